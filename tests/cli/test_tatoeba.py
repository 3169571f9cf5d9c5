"""``langmix evaluate tatoeba`` end to end on the tiny model, its language options, and ``compare``."""

from __future__ import annotations

import json
import shutil

import pytest
from tests.helpers import invoke
from typer.testing import CliRunner

from langmix.cli import app
from langmix.cli.tatoeba import seen_languages
from langmix.data.languages import XTREME_TATOEBA
from langmix.errors import LangmixError
from langmix.evaluation.tatoeba import parse_tatoeba_languages as parse_languages


def test_language_options():
    assert parse_languages("all") is None
    assert parse_languages("XTREME") == list(XTREME_TATOEBA)
    assert parse_languages("deu, cmn,sw") == ["deu", "cmn", "sw"]
    with pytest.raises(LangmixError):
        parse_languages(" , ")
    assert seen_languages("ar,de", ["en", "de"]) == (["ar", "de"], "given")
    assert seen_languages("none", ["en", "de"])[0] is None
    assert seen_languages(None, ["en", "de"]) == (["en", "de"], "from the model's training run")
    assert seen_languages(None, None) == (None, "not known")


def test_evaluate_tatoeba_and_compare(tiny_model_dir, data_dir, tmp_path):
    trained = tmp_path / "train"  # a model folder as `langmix train` leaves it: run.json beside model/
    shutil.copytree(tiny_model_dir, trained / "model")
    info = {"data": {"train": [{"languages": {"ar": 5, "de": 5, "en": 5}}]}}
    (trained / "run.json").write_text(json.dumps(info))
    args = ["evaluate", "tatoeba", "--data-dir", data_dir, "--max-per-language", 12]
    invoke(*args, "--model", tiny_model_dir, "--languages", "deu,swh", "--out", tmp_path / "a")
    result = invoke(*args, "--model", trained / "model", "--languages", "de,sw", "--out", tmp_path / "b")
    shown = " ".join(result.output.split())  # rich wraps lines at the terminal width
    assert "seen languages from the model's training run" in shown and "unseen" in shown
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert [row["n"] for row in a["languages"]] == [12, 12]
    assert a["seen_languages"] is None and a["model"]["training_languages"] is None
    assert b["seen_languages"] == ["ara", "deu"] and b["model"]["training_languages"] == ["ar", "de", "en"]
    assert b["groups"]["seen"]["languages"] == ["deu"] and b["groups"]["unseen"]["languages"] == ["swh"]
    assert (tmp_path / "b" / "report.md").read_text().count("| swh | 12 | 2 | yes | no |") == 1
    compared = invoke("compare", tmp_path / "a", tmp_path / "b").output
    assert "X→en" in compared and "seen" not in compared  # only the columns both runs have


def test_unknown_language_is_a_langmix_error(tiny_model_dir, data_dir, tmp_path):
    args = ["evaluate", "tatoeba", "--model", str(tiny_model_dir), "--data-dir", str(data_dir)]
    result = CliRunner().invoke(app, [*args, "--languages", "deu,xx", "--out", str(tmp_path)])
    assert isinstance(result.exception, LangmixError) and "xx" in str(result.exception)
    assert not (tmp_path / "metrics.json").exists()
