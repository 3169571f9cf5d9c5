"""``reuse_from``: an experiment takes another's finished training and evaluations only where they were made
with the same settings, part by part; anything else it does itself."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from langmix.errors import LangmixError
from langmix.experiments.grid import BASE_SPEC, ExperimentRunner, RunSpec


@pytest.fixture
def first(tiny_experiment, data_dir, tmp_path):
    """A finished one-run experiment (the untrained model and one hybrid training, both evaluated)."""
    out = str(tmp_path / "first")
    experiment = replace(tiny_experiment, strategies=["hybrid"], seeds=[1], output_dir=out)
    ExperimentRunner(experiment, data_root=data_dir, log=lambda line: None).run()
    return experiment


def _refuse_training(runner: ExperimentRunner) -> list[str]:
    trained: list[str] = []

    def train(spec):
        trained.append(spec.name)
        raise LangmixError(f"{spec.name} would be trained")

    runner.train = train
    return trained


@pytest.mark.slow
def test_a_study_takes_equal_trainings_and_evaluations_and_redoes_the_rest(first, data_dir, tmp_path):
    hybrid = RunSpec("hybrid", 0.5, 0.05, 1)
    source = ExperimentRunner(first, data_root=data_dir)
    logs: list[str] = []
    same = replace(first, name="same", output_dir=str(tmp_path / "same"), reuse_from=[first.output_dir])
    runner = ExperimentRunner(same, data_root=data_dir, log=logs.append)
    trained = _refuse_training(runner)
    assert runner.run() == {"base": "skipped", hybrid.name: "skipped"} and trained == []
    assert sum("reused from" in line for line in logs) == 2
    ours, theirs = runner.run_dir(hybrid) / "train" / "model", source.run_dir(hybrid) / "train" / "model"
    weights = next(p.name for p in theirs.iterdir() if p.suffix == ".safetensors")
    assert os.path.samefile(ours / weights, theirs / weights)  # hard links: no second copy on disk
    metrics = [r.eval_dir(hybrid, "xquad-r") / "metrics.json" for r in (runner, source)]
    assert json.loads(metrics[0].read_text()) == json.loads(metrics[1].read_text())
    assert runner.current(hybrid, "xquad-r") and runner.current(BASE_SPEC, "xquad-r")

    # same training, another evaluation: the model is taken, the evaluation is made here
    other_eval = replace(same, output_dir=str(tmp_path / "other-eval"), eval_max_questions=6)
    runner = ExperimentRunner(other_eval, data_root=data_dir, log=lambda line: None)
    trained = _refuse_training(runner)
    assert runner.run() == {"base": "done", hybrid.name: "done"} and trained == []
    doc = json.loads((runner.eval_dir(hybrid, "xquad-r") / "metrics.json").read_text())
    assert doc["data"]["n_questions"] == 18  # 6 questions x en, de, es

    # another training option: nothing of the trained run is taken (the untrained model's evaluation is)
    other_train = replace(
        same, output_dir=str(tmp_path / "other-train"), train={**same.train, "learning_rate": 1e-4}
    )
    runner = ExperimentRunner(other_train, data_root=data_dir, log=lambda line: None)
    trained = _refuse_training(runner)
    with pytest.raises(LangmixError, match="would be trained"):
        runner.run()
    assert trained == [hybrid.name] and not (runner.run_dir(hybrid) / "train").exists()
    assert (runner.eval_dir(BASE_SPEC, "xquad-r") / "metrics.json").is_file()
