"""A training run's folder is never reused for other work: a finished or unfinished run is not replaced
without --overwrite, a resume with other settings (options, data content) is refused with one line naming
what differs, and a resume starts from the newest complete checkpoint, setting torn ones aside."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from transformers import TrainerCallback

from langmix.data.parallel import ParallelDataset, load_squad_parallel, write_parallel_jsonl
from langmix.errors import LangmixError
from langmix.training import TrainConfig, train
from langmix.training.checkpoints import checkpoint_problem, file_problem


class _Crash(TrainerCallback):
    """A killed job: stop right after the checkpoint of step ``at`` is written."""

    def __init__(self, at: int):
        self.at = at

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            raise KeyboardInterrupt("killed")


@pytest.fixture(scope="module")
def jsonl_data(tmp_path_factory, data_dir) -> Path:
    """A small parallel JSONL file (its content can be edited under the same name)."""
    mlqa = load_squad_parallel(data_dir / "lareqa" / "mlqa-r", languages=["en", "de"])
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    return write_parallel_jsonl(path, ParallelDataset("pairs", mlqa.items[:96]))


def _config(out: Path, model: Path, data: Path, **overrides) -> TrainConfig:
    base = dict(
        data=[str(data)],
        model=str(model),
        max_seq_length=24,
        batch_size=4,
        max_steps=4,
        eval_steps=2,
        learning_rate=1e-3,
        warmup=0,
        val_fraction=0.0,
        logging_steps=1,
        output_dir=str(out),
        seed=5,
    )
    base.update(overrides)
    return TrainConfig(**base).validate()


def _crashed_run(tmp_path: Path, model: Path, data: Path, at: int = 2, **overrides) -> TrainConfig:
    config = _config(tmp_path / "run", model, data, **overrides)
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[_Crash(at=at)])
    return config


def _resume(config: TrainConfig, **changes) -> TrainConfig:
    return TrainConfig(**{**config.to_dict(), "resume": "auto", **changes})


def test_resume_with_other_settings_is_refused_naming_what_differs(tmp_path, tiny_model_dir, jsonl_data):
    config = _crashed_run(tmp_path, tiny_model_dir, jsonl_data)
    before = (tmp_path / "run" / "config.yaml").read_text()
    for change, named in (
        ({"learning_rate": 1e-4}, "learning_rate 0.001 -> 0.0001"),
        ({"batch_size": 6}, "batch_size 4 -> 6"),
        ({"seed": 6}, "seed 5 -> 6"),
        ({"strategy": "mono"}, "strategy hybrid -> mono"),
        ({"max_steps": 8}, "max_steps 4 -> 8"),
    ):
        with pytest.raises(LangmixError, match="resume: .* was made with other settings") as refused:
            train(_resume(config, **change))
        assert named in str(refused.value) and "\n" not in str(refused.value)
    # same path, other content: the data is identified by what it holds
    data = tmp_path / "edited.jsonl"
    shutil.copy(jsonl_data, data)
    config = _crashed_run(tmp_path / "b", tiny_model_dir, data)
    lines = data.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[3])
    record["languages"]["en"]["query"] += " (edited)"
    data.write_text("\n".join([*lines[:3], json.dumps(record), *lines[4:]]) + "\n", encoding="utf-8")
    with pytest.raises(LangmixError, match=r"other settings \(data [0-9a-f]"):
        train(_resume(config))
    # nothing was rewritten by the refused resumes
    assert (tmp_path / "run" / "config.yaml").read_text() == before
    # where only the folder's place or the thread count changed, the resume goes ahead
    moved = tmp_path / "moved"
    shutil.move(tmp_path / "run", moved)
    resumed = train(_resume(config, data=[str(jsonl_data)], output_dir=str(moved), threads=1))
    assert resumed.global_step == 4
    assert json.loads((moved / "run.json").read_text())["result"]["resumed_from"].endswith("checkpoint-2")


def test_a_folder_holding_a_run_is_not_replaced_without_overwrite(
    tmp_path, tiny_model_dir, jsonl_data, monkeypatch, capsys
):
    from langmix.cli import main

    first = train(_config(tmp_path / "run", tiny_model_dir, jsonl_data, max_steps=2))
    weights = (first.model_dir / "model.safetensors").read_bytes()
    with pytest.raises(
        LangmixError, match="already holds a finished training run; replace it with --overwrite"
    ):
        train(_config(tmp_path / "run", tiny_model_dir, jsonl_data, max_steps=2, seed=9))
    assert (first.model_dir / "model.safetensors").read_bytes() == weights
    # an unfinished one too (and the message offers the resume)
    _crashed_run(tmp_path / "b", tiny_model_dir, jsonl_data)
    with pytest.raises(LangmixError, match="unfinished training run; continue it with --resume auto"):
        train(_config(tmp_path / "b" / "run", tiny_model_dir, jsonl_data))
    with pytest.raises(LangmixError, match="give one of them"):
        _config(tmp_path / "run", tiny_model_dir, jsonl_data, overwrite=True, resume="auto")

    argv = ["langmix", "train", "--data", str(jsonl_data), "--model", str(tiny_model_dir), "--out"]
    argv += [str(tmp_path / "run"), "--batch-size", "4", "--max-steps", "2", "--max-seq-length", "24"]
    argv += ["--val-fraction", "0", "--seed", "9", "--set", "warmup=0"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "already holds a finished training run" in err and "Traceback" not in err
    monkeypatch.setattr(sys, "argv", [*argv, "--overwrite"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["identity"]["options"]["seed"] == 9 and info["result"]["global_step"] == 2
    assert (first.model_dir / "model.safetensors").read_bytes() != weights
    assert not list((tmp_path / "run").glob(".model*"))  # the model was saved aside and moved in


def test_a_torn_checkpoint_is_set_aside_and_the_previous_one_resumed(tmp_path, tiny_model_dir, jsonl_data):
    config = _crashed_run(tmp_path, tiny_model_dir, jsonl_data, at=4, max_steps=6, batch_log=True)
    checkpoints = tmp_path / "run" / "checkpoints"
    optimizer = checkpoints / "checkpoint-4" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[: optimizer.stat().st_size // 2])
    notices: list[str] = []
    resumed = train(_resume(config), notice=notices.append)
    assert len(notices) == 1
    assert "checkpoint-4 is incomplete (optimizer.pt is truncated" in notices[0]
    assert "resuming from checkpoint-2" in notices[0]
    assert resumed.global_step == 6
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["result"]["resumed_from"].endswith("checkpoint-2")
    assert (checkpoints / "torn-checkpoint-4" / "optimizer.pt").is_file()  # kept, out of the trainer's way
    # steps 3 and 4 were trained twice (before the kill and after the resume), and are logged once
    log = (tmp_path / "run" / "batches.rank0.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2, 3, 4, 5, 6]


def test_what_makes_a_checkpoint_incomplete(tmp_path, tiny_model_dir, jsonl_data):
    _crashed_run(tmp_path, tiny_model_dir, jsonl_data)
    good = tmp_path / "run" / "checkpoints" / "checkpoint-2"
    assert checkpoint_problem(good) is None

    def broken(name: str, damage) -> str | None:
        copy = tmp_path / name / "checkpoint-2"
        shutil.copytree(good, copy)
        damage(copy)
        return checkpoint_problem(copy)

    def truncate(path: Path, keep: int) -> None:
        path.write_bytes(path.read_bytes()[:keep])

    assert broken("a", lambda c: (c / "trainer_state.json").unlink()) == "trainer_state.json missing"
    assert broken("b", lambda c: (c / "trainer_state.json").write_text('{"global_step": ')) == (
        "trainer_state.json is not valid JSON"
    )
    assert broken("c", lambda c: (c / "optimizer.pt").write_bytes(b"")) == "optimizer.pt is empty"
    weights = good / "model.safetensors"
    assert broken("d", lambda c: truncate(c / "model.safetensors", weights.stat().st_size - 10)) == (
        "model.safetensors is truncated"
    )
    assert broken("e", lambda c: truncate(c / "model.safetensors", 4)) == "model.safetensors is truncated"
    assert broken("f", lambda c: (c / "model.safetensors").unlink()) == "no model weights"
    assert broken("g", lambda c: truncate(c / "scheduler.pt", 100)).startswith("scheduler.pt is truncated")
    assert file_problem(good / "optimizer.pt") is None


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-steps", "0", "max_steps must be >= 1 (or -1: train by --epochs), got 0"),
        ("--max-steps", "-7", "max_steps must be >= 1"),
        ("--epochs", "0", "epochs must be a finite number > 0, got 0.0"),
        ("--epochs", "-1", "epochs must be a finite number > 0"),
        ("--lr", "nan", "learning_rate must be a finite number > 0, got nan"),
        ("--lr", "-0.001", "learning_rate must be a finite number > 0"),
        ("--temperature", "inf", "temperature must be a finite number > 0, got inf"),
        ("--temperature", "-0.05", "temperature must be a finite number > 0"),
        ("--max-seq-length", "0", "max_seq_length must be >= 1"),
        ("--batch-size", "0", "batch_size must be at least 2"),
        ("--alpha", "1.5", "alpha 1.5 is outside [0, 1]"),
        ("--seed", "-1", "seed must be in [0, 2**32)"),
        ("--mini-batch-size", "0", "mini_batch_size must be >= 1"),
        ("--set", "warmup=2.5", "warmup must be a fraction of the steps in [0, 1) or a whole number"),
        ("--set", "trainer_args={output_dir: /tmp/x}", "trainer_args: output_dir is set by langmix"),
        (
            "--set",
            "trainer_args={adam_beta2: high}",
            "trainer_args: adam_beta2 cannot be 'high' (expected float)",
        ),
        (
            "--set",
            "trainer_args={optim: fastest}",
            "trainer_args: optim cannot be 'fastest' (expected one of",
        ),
        (
            "--set",
            "trainer_args={no_such_arg: 1}",
            "'no_such_arg' is not a SentenceTransformerTrainingArguments",
        ),
    ],
)
def test_out_of_range_options_stop_at_parse_time(tmp_path, monkeypatch, capsys, option, value, message):
    """Each used to train 0, 1 or 16 steps with exit code 0, or end in a traceback."""
    from langmix.cli import main

    def must_not_train(config, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("langmix.training.train", must_not_train)
    monkeypatch.setattr(sys, "argv", ["langmix", "train", "--out", str(tmp_path / "x"), option, value])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err and err.count("error:") == 1


def test_yaml_values_of_the_wrong_type_name_the_key(tmp_path):
    from langmix.training import load_config

    path = tmp_path / "train.yaml"
    for doc, message in (
        ({"languages": ["en", False]}, "languages: cannot use ['en', False] (expected list[str])"),
        ({"max_steps": True}, "max_steps: cannot use True (expected int)"),
        ({"model": ["a", "b"]}, "model: cannot use ['a', 'b'] (expected str)"),
        ({"freeze_embeddings": 3}, "freeze_embeddings: cannot use 3 (expected bool)"),
    ):
        path.write_text(yaml.safe_dump(doc))
        with pytest.raises(LangmixError) as err:
            load_config(path)
        assert str(err.value) == f"{path}: {message}"
    path.write_bytes(b"data: mlqa-r\nlanguages: [en, \xff]\n")
    with pytest.raises(LangmixError, match="not UTF-8 text"):
        load_config(path)


def test_a_resume_reports_the_whole_run_and_never_trains_past_the_last_step(
    tmp_path, tiny_model_dir, jsonl_data
):
    """Found by tests/reliability/kill_anywhere.py: a kill after the last checkpoint but before the run was
    marked finished made the resume train one batch more, and a resumed run's train_loss covered only the
    steps after the resume; a resume of a finished run rewrote its result."""
    whole = train(_config(tmp_path / "whole", tiny_model_dir, jsonl_data, max_steps=5, batch_log=True))
    crashed = _crashed_run(tmp_path, tiny_model_dir, jsonl_data, at=2, max_steps=5, batch_log=True)
    resumed = train(_resume(crashed))
    assert resumed.train_loss == pytest.approx(whole.train_loss, rel=1e-9)
    run = tmp_path / "run"
    info = json.loads((run / "run.json").read_text())
    del info["result"]  # killed after its last checkpoint (step 5), before the run was marked finished
    (run / "run.json").write_text(json.dumps(info))
    again = train(_resume(crashed))
    assert again.global_step == 5 and again.train_loss == pytest.approx(whole.train_loss, rel=1e-9)
    assert again.composition["trained"] == whole.composition["trained"]
    steps = [json.loads(line)["step"] for line in (run / "batches.rank0.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
    assert not (run / "checkpoints" / "checkpoint-6").exists()
    finished = json.loads((run / "run.json").read_text())["result"]
    notices: list[str] = []
    assert train(_resume(crashed), notice=notices.append).global_step == 5  # finished: nothing to do
    assert "finished earlier" in notices[0]
    assert json.loads((run / "run.json").read_text())["result"] == finished
