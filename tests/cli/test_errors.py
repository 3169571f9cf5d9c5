"""One error path: every user-caused failure is one literal ``error:`` line and exit code 2, never a
traceback (``--debug`` / ``LANGMIX_DEBUG=1`` add it); numeric options are checked at parse time.

Run in process through ``langmix.cli.main`` (the console entry point), where errors become lines.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import yaml
from tests.helpers import write_beir

import langmix.cli.data as data_cli
import langmix.cli.demo as demo_cli
import langmix.cli.evaluate as evaluate_cli
from langmix.cli import main
from langmix.errors import LangmixError, user_error


@pytest.fixture
def langmix(monkeypatch, capsys):
    """``langmix(*args)`` -> (exit code, stderr) of the console entry point."""

    def run(*args: object) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["langmix", *map(str, args)])
        with pytest.raises(SystemExit) as exit_:
            main()
        return exit_.value.code, capsys.readouterr().err

    monkeypatch.delenv("LANGMIX_DEBUG", raising=False)
    return run


def one_error_line(code: int, err: str) -> str:
    """The one ``error:`` line, last on stderr after whatever the command printed before it failed."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], err
    return lines[-1]


def test_markup_in_an_error_is_printed_literally(tmp_path, langmix):
    # rich used to read "[/x]" as a closing tag and crash with a MarkupError traceback
    folder = tmp_path / "set[/x][bold]"
    write_beir(
        folder, [{"_id": "d1", "text": "x"}], [{"_id": "q1", "text": "q", "lang": "../../escaped"}], {}
    )
    line = one_error_line(*langmix("evaluate", "beir", folder, "--runs", tmp_path / "{lang}.trec"))
    assert line == (
        f"error: {folder}/queries.jsonl: line 1: '../../escaped' is not a language code (expected e.g. 'en', "
        "'de', 'zh', 'pt-BR'); fix the label"
    )


def test_invalid_utf8_is_one_line_naming_file_and_line(tmp_path, langmix):
    folder = write_beir(
        tmp_path / "b", [{"_id": "d1", "text": "x"}], [{"_id": "q1", "text": "q"}], {"q1": "d1"}
    )
    with open(folder / "qrels" / "test.tsv", "ab") as qrels:
        qrels.write(b"q1\td\xe9\t1\n")
    line = one_error_line(*langmix("evaluate", "beir", folder, "--runs", tmp_path / "{lang}.trec"))
    assert f"{folder}/qrels/test.tsv: line 3: not UTF-8 text (byte 0xe9 at column 5)" in line


def test_debug_shows_the_traceback(tmp_path, langmix, monkeypatch):
    missing = tmp_path / "nope"
    code, err = langmix("--debug", "evaluate", "beir", missing, "--runs", "{lang}.trec")
    assert code == 2 and "Traceback" in err and err.rstrip().splitlines()[-1].startswith("error: ")
    monkeypatch.setenv("LANGMIX_DEBUG", "1")
    code, err = langmix("evaluate", "beir", missing, "--runs", "{lang}.trec")
    assert code == 2 and "Traceback" in err


def test_an_out_that_is_a_file_is_refused_before_any_work(tmp_path, langmix):
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    folder = write_beir(
        tmp_path / "b", [{"_id": "d1", "text": "x"}], [{"_id": "q1", "text": "q"}], {"q1": "d1"}
    )
    runs = ("--runs", tmp_path / "{lang}.trec")
    code, err = langmix("evaluate", "beir", folder, *runs, "--out", taken)
    assert code == 2
    assert err == f"error: --out {taken}: exists and is a file, not a folder; give a folder path\n"
    line = one_error_line(*langmix("index", tmp_path, "--out", taken / "sub"))
    assert line == f"error: --out {taken / 'sub'}: {taken} is a file, so no folder can be made under it"
    line = one_error_line(*langmix("search", tmp_path, "--query", "x", "--out", tmp_path))
    assert line == f"error: --out {tmp_path}: exists and is a folder, not a file; give a file path"
    assert taken.read_text() == "keep me"


def _index(tmp_path):
    from langmix.retrieval.index import build_index

    vectors = np.eye(4, dtype=np.float32)
    folder = tmp_path / "index"
    build_index(vectors, ids=["a", "b", "c", "d"]).save(folder)
    return folder


@pytest.mark.parametrize("name", ["index.faiss", "ids.npy", "index.json"])
def test_a_corrupt_index_file_is_one_line(tmp_path, langmix, name):
    folder = _index(tmp_path)
    (folder / name).write_bytes((folder / name).read_bytes()[:40])
    line = one_error_line(*langmix("search", folder, "--query", "x"))
    assert str(folder) in line


def test_corrupt_safetensors_is_one_line(tmp_path, langmix, tiny_model_dir):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    weights = next(model.rglob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "d1", "text": "x"}) + "\n")
    line = one_error_line(*langmix("encode", corpus, "--model", model, "--out", tmp_path / "emb"))
    assert str(model) in line


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (EOFError("Ran out of input"), "an input file is unreadable or corrupt (EOFError: Ran out of input)"),
        (
            PermissionError(13, "Permission denied", "/r/[/x]/metrics.json"),
            "/r/[/x]/metrics.json: Permission denied;",
        ),
        (
            IsADirectoryError(21, "Is a directory", "/r/out"),
            "/r/out: Is a directory; check that the path exists",
        ),
    ],
)
def test_os_and_end_of_file_errors_in_a_command_are_one_line(tmp_path, langmix, monkeypatch, exc, expected):
    # typer used to turn an EOFError into a bare "Aborted." and an OSError into a traceback
    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(data_cli, "fetch", fail)
    line = one_error_line(*langmix("data", "fetch", "xquad-r", "--dest", tmp_path / "d"))
    assert line.startswith(f"error: {expected}")


def test_library_errors_map_to_one_line():
    assert (
        user_error(json.JSONDecodeError("Expecting value", "{", 1))
        .args[0]
        .startswith(
            "an input file is unreadable or corrupt (invalid JSON: Expecting value at line 1 column 2)"
        )
    )
    try:
        yaml.safe_load("a: [1,\n b")
    except yaml.YAMLError as exc:
        assert "\n" not in str(user_error(exc)) and "unreadable or corrupt" in str(user_error(exc))
    assert user_error(TypeError("a bug")) is None  # bugs keep their traceback
    assert isinstance(
        user_error(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")), LangmixError
    )


@pytest.mark.parametrize("bad", ["0", "-1", "ten"])
def test_max_questions_below_one_is_refused_at_parse_time(langmix, monkeypatch, bad):
    called = []
    monkeypatch.setattr(evaluate_cli, "evaluate_lareqa_command", lambda *a, **k: called.append(a))
    monkeypatch.setattr(demo_cli, "ensure", lambda *a, **k: None)
    monkeypatch.setattr(demo_cli, "run_experiment_config", lambda *a, **k: called.append(a))
    for command in (["evaluate", "xquad-r"], ["demo"]):
        code, err = langmix(*command, "--max-questions", bad)
        assert code == 2 and "Invalid value for '--max-questions'" in err, err
    assert called == []


def test_max_questions_all_or_a_count_is_the_same_in_evaluate_and_demo(
    tmp_path, langmix, monkeypatch, data_dir
):
    seen = []
    monkeypatch.setattr(
        evaluate_cli, "evaluate_lareqa_command", lambda model, options, *a: seen.append(options)
    )
    monkeypatch.setattr(demo_cli, "ensure", lambda *a, **k: data_dir)
    monkeypatch.setattr(demo_cli, "run_experiment_config", lambda config, **k: seen.append(config))
    for value in ("all", "7"):
        assert langmix("evaluate", "xquad-r", "--max-questions", value)[0] == 0
        assert langmix("demo", "--out", tmp_path / "demo", "--max-questions", value)[0] == 0
    assert [getattr(s, "max_questions", None) or getattr(s, "eval_max_questions", None) for s in seen] == [
        None,
        None,
        7,
        7,
    ]


@pytest.mark.parametrize("steps", ["0", "-7"])
def test_demo_steps_below_one_is_refused(langmix, monkeypatch, data_dir, steps):
    # 0 used to mean the default 50 steps, and -7 went on to the trainer
    ran = []
    monkeypatch.setattr(demo_cli, "ensure", lambda *a, **k: data_dir)
    monkeypatch.setattr(demo_cli, "run_experiment_config", lambda config, **k: ran.append(config))
    code, err = langmix("demo", "--steps", steps)
    assert code == 2 and "Invalid value for '--steps'" in err and ran == []


@pytest.mark.parametrize(
    ("command", "option", "value"), [("encode", "--dtype", "float8"), ("index", "--kind", "lsh")]
)
def test_choice_options_are_checked_at_parse_time(tmp_path, langmix, command, option, value):
    code, err = langmix(command, tmp_path, "--out", tmp_path / "e", option, value)
    assert code == 2 and "is not one of" in err, err


def test_the_demo_trains_with_configs_recipe_yaml():
    """One recipe: ``langmix demo`` trains with configs/recipe.yaml's train block (the package does not ship
    configs/, so the demo keeps a copy; this keeps the two equal) at its own, stated length."""
    from pathlib import Path

    from langmix.experiments.grid import load_experiment

    recipe = load_experiment(Path(__file__).resolve().parents[2] / "configs" / "recipe.yaml").train
    length = {"max_steps": 100, "eval_steps": 50}
    assert {k: v for k, v in recipe.items() if k != "precision"} | length == demo_cli.DEMO_TRAIN
    assert recipe["max_steps"] == 200 and demo_cli.demo_config(Path("x"), steps=7).train["eval_steps"] == 3
    config = demo_cli.demo_config(Path("runs/x"), precision="fp32")
    assert config.train == {**demo_cli.DEMO_TRAIN, "precision": "fp32"} and config.strategies == ["hybrid"]
