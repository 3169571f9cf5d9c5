"""A tiny experiment grid end to end: train (as subprocesses), evaluate, summarise, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from langmix.experiments.grid import ExperimentRunner, grid, load_experiment
from langmix.reports.experiment import write_summary
from langmix.reports.lareqa import headline


@pytest.fixture
def tiny_experiment(tmp_path, tiny_model_dir, data_dir):
    config = {
        "name": "tiny",
        "output_dir": str(tmp_path / "exp"),
        "train": {
            "model": str(tiny_model_dir),
            "data": ["mlqa-r"],
            "languages": ["en", "de", "es"],
            "max_items": 80,
            "max_steps": 3,
            "batch_size": 8,
            "max_seq_length": 32,
            "val_fraction": 0.25,
            "eval_steps": 2,
            "logging_steps": 1,
            "warmup": 0,
        },
        "strategies": ["mono", "hybrid"],
        "seeds": [1, 2],
        "evaluate": ["xquad-r"],
        "eval_languages": ["en", "de", "es"],
        "eval_max_questions": 12,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_experiment(path)


def test_grid_layout(tiny_experiment):
    names = [spec.name for spec in grid(tiny_experiment)]
    assert names == ["base", "mono-t0.05-s1", "hybrid-a0.5-t0.05-s1", "mono-t0.05-s2", "hybrid-a0.5-t0.05-s2"]


@pytest.mark.slow
def test_tiny_grid_end_to_end_and_resume(tiny_experiment, data_dir):
    logs: list[str] = []
    runner = ExperimentRunner(tiny_experiment, data_root=data_dir, log=logs.append)
    status = runner.run()
    assert set(status.values()) == {"done"} and len(status) == 5
    summary = write_summary(runner)
    systems = summary["datasets"]["xquad-r"]["systems"]
    assert set(systems) == {"base", "mono-t0.05", "hybrid-a0.5-t0.05"}
    for spec in grid(tiny_experiment):
        doc = json.loads((runner.eval_dir(spec, "xquad-r") / "metrics.json").read_text())
        assert doc["data"]["n_questions"] == 36
        values = headline(doc)
        row = systems[spec.system]
        seed_index = 0 if spec.seed in (None, 1) else 1
        for key, cell in row.items():
            assert cell["values"][seed_index] == pytest.approx(values[key])
        assert row["mo_map"]["mean"] == pytest.approx(np.mean(row["mo_map"]["values"]))
    tests = summary["datasets"]["xquad-r"]["significance"]["hybrid-a0.5-t0.05"]
    assert set(tests) == {"base", "mono-t0.05"} and 0 <= tests["mono-t0.05"]["mul"]["p_value"] <= 1
    assert (runner.root / "summary.md").read_text().count("| mono-t0.05 |") == 2  # table + test row
    assert (runner.root / "heatmaps_xquad-r.png").read_bytes()[:4] == b"\x89PNG"
    # trained models load with plain sentence-transformers
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(runner.model_name(grid(tiny_experiment)[1]))
    # a second run skips everything
    logs.clear()
    again = ExperimentRunner(tiny_experiment, data_root=data_dir, log=logs.append).run()
    assert set(again.values()) == {"skipped"}
    assert not any("training" in line for line in logs)
