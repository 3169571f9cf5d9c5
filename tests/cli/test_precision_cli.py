"""``--precision`` on every command that runs a model, on a tiny slice: recorded where its vectors go."""

from __future__ import annotations

import json

import pytest
from tests.helpers import invoke, write_beir
from typer.testing import CliRunner

from langmix.cli import app
from langmix.cli import demo as demo_cli
from langmix.cli import experiment as experiment_cli

ROWS = [
    {"_id": "nairobi", "title": "Nairobi", "text": "Nairobi is the capital of Kenya.", "lang": "en"},
    {"_id": "jazz", "title": "Jazz", "text": "Jazz is a music genre from New Orleans.", "lang": "en"},
    {"_id": "mji", "title": "Nairobi", "text": "Nairobi ni mji mkuu wa Kenya.", "lang": "sw"},
]


@pytest.fixture
def beir(tmp_path):
    queries = [
        {"_id": "q1", "text": "capital of Kenya", "lang": "en"},
        {"_id": "q2", "text": "mji", "lang": "sw"},
    ]
    return write_beir(tmp_path / "set", ROWS, queries, {"q1": "nairobi", "q2": "mji"})


def test_evaluate_lareqa_records_precision_and_device(tiny_model_dir, data_dir, tmp_path):
    out = tmp_path / "bf16"
    args = ["evaluate", "xquad-r", "--model", tiny_model_dir, "--langs", "en,de", "--max-questions", 5]
    invoke(*args, "--data-dir", data_dir, "--max-length", 32, "--out", out, "--precision", "bf16")
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["model"]["precision"] == "bf16" and doc["options"]["precision"] == "bf16"
    assert {"device", "bf16_native"} <= set(doc["device"]) and doc["device"]["device"] == "cpu"
    assert "encoded at bf16 on" in (out / "report.md").read_text()
    invoke(
        *args, "--data-dir", data_dir, "--max-length", 32, "--out", tmp_path / "fp32", "--precision", "fp32"
    )
    assert json.loads((tmp_path / "fp32" / "metrics.json").read_text())["model"]["precision"] == "fp32"
    assert "(bf16)" in invoke("compare", tmp_path / "fp32", out).output  # told apart in comparisons


def test_unknown_precision_is_refused_before_anything_runs(tmp_path):
    result = CliRunner().invoke(app, ["encode", str(tmp_path), "--out", str(tmp_path), "--precision", "int8"])
    assert result.exit_code == 2 and "'int8' is not one of auto, fp32, bf16, fp16" in result.output


def test_encode_search_and_evaluate_beir(tmp_path, beir, tiny_model_dir):
    emb, idx = tmp_path / "emb", tmp_path / "idx"
    invoke("encode", beir, "--out", emb, "--model", tiny_model_dir, "--precision", "bf16")
    assert json.loads((emb / "manifest.json").read_text())["meta"]["precision"] == "bf16"
    invoke("index", emb, "--out", idx)  # no model runs here: the index carries the passages' precision
    assert json.loads((idx / "index.json").read_text())["meta"]["precision"] == "bf16"
    for extra in ([], ["--precision", "fp32"], ["--precision", "auto"]):
        assert "nairobi" in invoke("search", idx, "--query", "capital of Kenya", *extra).output

    out = tmp_path / "out"
    invoke(
        "evaluate",
        "beir",
        beir,
        "--model",
        tiny_model_dir,
        "--out",
        out,
        "--k",
        3,
        "--metrics",
        "nDCG@3",
        "--precision",
        "bf16",
    )
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["model"]["precision"] == "bf16" and doc["config"]["precision"] == "bf16"
    assert doc["device"]["device"] == "cpu" and "encoded at bf16 on" in (out / "report.md").read_text()
    manifest = json.loads((out / "work" / "set" / "embeddings" / "manifest.json").read_text())
    assert manifest["meta"]["precision"] == "bf16"


def test_demo_and_experiment_pass_precision_on(monkeypatch, tmp_path, data_dir):
    seen = []
    monkeypatch.setattr(demo_cli, "ensure", lambda *a, **k: data_dir)
    monkeypatch.setattr(demo_cli, "run_experiment_config", lambda config, **k: seen.append(config))
    invoke("demo", "--out", tmp_path / "demo", "--precision", "auto")
    invoke("demo", "--out", tmp_path / "demo", "--precision", "fp32")
    invoke("demo", "--out", tmp_path / "demo2")  # the default: auto for both
    assert [(c.train["precision"], c.eval_precision) for c in seen] == [
        ("auto", "auto"),
        ("fp32", "fp32"),
        ("auto", "auto"),
    ]

    config = tmp_path / "grid.yaml"
    config.write_text("name: g\ntrain: {data: [mlqa-r]}\neval_precision: bf16\n")
    seen.clear()
    monkeypatch.setattr(experiment_cli, "run_experiment_config", lambda config, **k: seen.append(config))
    invoke("experiment", config, "--out", tmp_path / "g")
    invoke("experiment", config, "--out", tmp_path / "g", "--precision", "fp16")
    assert [c.eval_precision for c in seen] == ["bf16", "fp16"] and seen[1].train["precision"] == "fp16"
    config.write_text("name: g\ntrain: {data: [mlqa-r]}\neval_precision: fast\n")
    with pytest.raises(Exception, match="eval_precision 'fast' is not one of auto, fp32, bf16, fp16"):
        invoke("experiment", config)
