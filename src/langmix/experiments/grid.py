"""A grid of training runs (strategies x alpha x temperature x seed), each followed by LAReQA evaluation.

Each training runs as its own process through a configurable launcher (``python -m langmix`` here,
``torchrun --nproc_per_node 8 -m langmix`` on a GPU box); evaluation runs in this process. A run
whose outputs exist is skipped, so an interrupted grid resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from langmix.batching.samplers import effective_alpha
from langmix.data.benchmarks import LAREQA_BENCHMARKS
from langmix.errors import LangmixError
from langmix.evaluation.api import LareqaOptions, run_lareqa
from langmix.evaluation.lareqa_run import write_lareqa_run
from langmix.evaluation.run_folder import Renderer
from langmix.io import write_atomic
from langmix.models.loading import load_model, model_display_name
from langmix.models.precision import CHOICES, DEFAULT_PRECISION
from langmix.progress import SILENT, ProgressSink
from langmix.training.config import validate_train_block

BASE = "base"


@dataclass
class ExperimentConfig:
    """One comparison: every run shares ``train`` (TrainConfig fields) and differs only by the grid axes."""

    name: str = "experiment"
    output_dir: str = "runs/experiments/experiment"
    train: dict[str, Any] = field(default_factory=dict)
    strategies: list[str] = field(default_factory=lambda: ["mono", "cross", "hybrid"])
    alpha: float = 0.5  # alpha of the hybrid runs in the main comparison
    alpha_sweep: list[float] = field(default_factory=list)  # extra hybrid alphas (0 = cross, 1 = mono)
    temperatures: list[float] | None = None  # default: train.temperature (or 0.05)
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    evaluate: list[str] = field(default_factory=lambda: ["xquad-r"])
    eval_max_questions: int | None = None
    eval_languages: list[str] | None = None
    eval_batch_size: int = 64
    eval_max_length: int | None = None
    # precision of every evaluation (auto | fp32 | bf16 | fp16); training's own is train.precision
    eval_precision: str = DEFAULT_PRECISION
    include_base: bool = True  # the untrained model as a reference row
    launcher: list[str] = field(default_factory=lambda: [sys.executable, "-m", "langmix"])

    def validate(self) -> ExperimentConfig:
        """Check every field; the ``train`` block by the training configuration's own rules (its values
        stay as written: the training process parses them again from train.yaml)."""
        try:
            validate_train_block(self.train)
            for strategy in self.strategies:
                effective_alpha(strategy, self.alpha)
            for a in self.alpha_sweep:
                effective_alpha("hybrid", a)
        except LangmixError as exc:
            raise LangmixError(f"experiment {self.name}: {exc}") from None
        for name in self.evaluate:
            if name not in LAREQA_BENCHMARKS:
                raise LangmixError(f"experiment {self.name}: cannot evaluate on {name!r}")
        if not self.seeds:
            raise LangmixError(f"experiment {self.name}: no seeds")
        if self.eval_precision not in CHOICES:
            raise LangmixError(
                f"experiment {self.name}: eval_precision {self.eval_precision!r} is not one of "
                f"{', '.join(CHOICES)}"
            )
        return self

    def temperature_axis(self) -> list[float]:
        """The grid's temperatures: ``temperatures``, else the train block's one (default 0.05)."""
        return self.temperatures or [self.train.get("temperature", 0.05)]


def load_experiment(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    path = Path(path)
    if not path.is_file():
        raise LangmixError(f"{path}: experiment config not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise LangmixError(f"{path}: not valid YAML: {exc}") from None
    for key, value in (overrides or {}).items():
        if key.startswith("train."):  # --set train.max_steps=100 reaches into the shared train block
            raw.setdefault("train", {})[key.removeprefix("train.")] = value
        else:
            raw[key] = value
    known = set(ExperimentConfig.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise LangmixError(
            f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
        )
    return ExperimentConfig(**raw).validate()


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid. ``system`` names what is compared (seeds of one system are averaged)."""

    strategy: str  # mono | cross | hybrid | base
    alpha: float | None
    temperature: float | None
    seed: int | None

    @property
    def system(self) -> str:
        if self.strategy == BASE:
            return BASE
        name = self.strategy if self.strategy != "hybrid" else f"hybrid-a{self.alpha:g}"
        return f"{name}-t{self.temperature:g}"

    @property
    def name(self) -> str:
        return self.system if self.seed is None else f"{self.system}-s{self.seed}"

    def sweep_alpha(self) -> float | None:
        """Share of monolingual batches, the x-axis of the alpha sweep (mono 1, cross 0, base None)."""
        if self.strategy == BASE:
            return None
        return effective_alpha(self.strategy, self.alpha or 0.0)  # mono / cross specs carry no alpha


def grid(config: ExperimentConfig) -> list[RunSpec]:
    temps = config.temperature_axis()
    runs = [RunSpec(BASE, None, None, None)] if config.include_base else []
    for temp in temps:
        for seed in config.seeds:
            for strategy in config.strategies:
                alphas = [config.alpha] if strategy == "hybrid" else [None]
                if strategy == "hybrid":  # alpha 1 / 0 are the mono / cross runs themselves
                    ends = {1.0: "mono", 0.0: "cross"}
                    alphas += [
                        a
                        for a in config.alpha_sweep
                        if a != config.alpha and ends.get(a) not in config.strategies
                    ]
                runs.extend(RunSpec(strategy, a, temp, seed) for a in alphas)
    return runs


class ExperimentRunner:
    """Trains and evaluates each run of the grid that has not finished yet."""

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        data_root: str | Path | None = None,
        progress: ProgressSink = SILENT,
        log: Callable[[str], None] = print,
        render: Renderer | None = None,
    ):
        """``render`` makes each evaluation's report files (the CLI passes
        :func:`langmix.reports.lareqa.report_files`); without it a run folder holds its numbers only."""
        self.config = config.validate()
        self.root = Path(config.output_dir)
        self.data_root = data_root
        self.progress = progress
        self.log = log
        self.render = render

    def run_dir(self, spec: RunSpec) -> Path:
        return self.root / "runs" / spec.name

    def eval_dir(self, spec: RunSpec, dataset: str) -> Path:
        return self.run_dir(spec) / "eval" / dataset

    def model_name(self, spec: RunSpec) -> str:
        if spec.strategy == BASE:
            return self.config.train.get("model", "embedded")
        return str(self.run_dir(spec) / "train" / "model")

    def trained(self, spec: RunSpec) -> bool:
        info = self.run_dir(spec) / "train" / "run.json"
        return spec.strategy == BASE or (info.is_file() and "result" in json.loads(info.read_text()))

    def evaluated(self, spec: RunSpec) -> bool:
        return all((self.eval_dir(spec, d) / "metrics.json").is_file() for d in self.config.evaluate)

    def train_config(self, spec: RunSpec) -> dict[str, Any]:
        cfg = dict(self.config.train)
        cfg.update(
            strategy=spec.strategy,
            seed=spec.seed,
            temperature=spec.temperature,
            output_dir=str(self.run_dir(spec) / "train"),
            resume="auto",
        )
        if spec.strategy == "hybrid":
            cfg["alpha"] = spec.alpha
        if self.data_root is not None:
            cfg.setdefault("data_root", str(self.data_root))
        return cfg

    def train(self, spec: RunSpec) -> None:
        cfg_path = self.run_dir(spec) / "train.yaml"
        write_atomic(cfg_path, yaml.safe_dump(self.train_config(spec), sort_keys=False))
        cmd = [*self.config.launcher, "train", "--config", str(cfg_path)]
        self.log(f"[{spec.name}] training: {' '.join(cmd)}")
        env = dict(os.environ)
        if self.data_root is not None:
            env["LANGMIX_DATA_DIR"] = str(self.data_root)
        proc = subprocess.run(cmd, env=env)
        if proc.returncode != 0 or not self.trained(spec):
            raise LangmixError(
                f"[{spec.name}] training failed (exit {proc.returncode}); see the output above"
            )

    def evaluate(self, spec: RunSpec) -> None:
        model = load_model(self.model_name(spec))
        info = {
            "name": model_display_name(self.model_name(spec)),
            "run": spec.name,
            "system": spec.system,
            **asdict(spec),
        }
        for dataset in self.config.evaluate:
            target = self.eval_dir(spec, dataset)
            if (target / "metrics.json").is_file():
                continue
            options = LareqaOptions(
                dataset=dataset,
                languages=self.config.eval_languages,
                max_questions=self.config.eval_max_questions,
                batch_size=self.config.eval_batch_size,
                max_length=self.config.eval_max_length,
                precision=self.config.eval_precision,
            )
            self.log(f"[{spec.name}] evaluating on {dataset}")
            run = run_lareqa(model, options, data_root=self.data_root, progress=self.progress)
            write_lareqa_run(run, info, target, render=self.render)

    def run(self) -> dict[str, str]:
        """Run every unfinished cell; return ``{run name: "skipped" | "done"}``."""
        status = {}
        start = time.perf_counter()
        for spec in grid(self.config):
            if self.evaluated(spec):
                status[spec.name] = "skipped"
                self.log(f"[{spec.name}] finished earlier: skipped")
                continue
            if not self.trained(spec):
                self.train(spec)
            self.evaluate(spec)
            status[spec.name] = "done"
        self.log(f"grid finished in {time.perf_counter() - start:.0f} s")
        return status
