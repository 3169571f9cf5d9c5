"""A grid of training runs (strategies x alpha x temperature x seed), each followed by LAReQA evaluation.

Each training runs as its own process through a known launcher (``python`` here, ``torchrun
--nproc-per-node 8`` on a GPU box: :mod:`langmix.experiments.launcher`); evaluation runs in this process. A
run is skipped only when it finished *with the same settings* (:mod:`langmix.experiments.identity`): an
interrupted grid resumes where it stopped, an edited one redoes what the edit changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import typing
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from langmix.batching.samplers import effective_alpha
from langmix.data.benchmarks import LAREQA_BENCHMARKS
from langmix.data.languages import tatoeba_code
from langmix.data.tatoeba import check_languages, tatoeba_files
from langmix.errors import LangmixError
from langmix.evaluation.api import LareqaOptions, run_lareqa
from langmix.evaluation.lareqa_run import write_lareqa_run
from langmix.evaluation.run_folder import Renderer
from langmix.evaluation.tatoeba import (
    TatoebaOptions,
    parse_tatoeba_languages,
    run_tatoeba,
    training_languages,
    write_tatoeba_run,
)
from langmix.experiments.identity import (
    FileDigests,
    lareqa_files,
    part_hash,
    recorded_run_identity,
    training_data_identity,
)
from langmix.experiments.launcher import launch_command
from langmix.experiments.reuse import adopt_run
from langmix.io import FolderLock, write_atomic, write_json
from langmix.models.cache import model_fingerprint
from langmix.models.debias import DebiasOptions, LanguageSubspace, estimate_subspace, parse_source
from langmix.models.encoder import ENCODE_BATCH_SIZE, Encoder
from langmix.models.loading import load_model, model_display_name
from langmix.models.merge import interpolate_model_named
from langmix.models.precision import CHOICES, DEFAULT_PRECISION, resolve_precision
from langmix.progress import SILENT, ProgressSink
from langmix.training.config import (
    POSITIVE_INT,
    check_value,
    coerce,
    identity_options,
    load_config,
    parse_as,
    validate_train_block,
)
from langmix.training.identity import differences, is_finished, recorded_identity
from langmix.training.pretrain import PretrainConfig, pretrain, pretrain_identity
from langmix.training.setup import training_precision
from langmix.training.temperature import resolve_temperature

BASE = "base"
TATOEBA = "tatoeba"  # the one non-LAReQA evaluation an experiment knows


@dataclass
class ExperimentConfig:
    """One comparison: every run shares ``train`` (TrainConfig fields) and differs only by the grid axes."""

    name: str = "experiment"
    output_dir: str = "runs/experiments/experiment"
    train: dict[str, Any] = field(default_factory=dict)
    strategies: list[str] = field(default_factory=lambda: ["mono", "cross", "hybrid"])
    alpha: float = 0.5  # alpha of the hybrid runs in the main comparison
    alpha_sweep: list[float] = field(default_factory=list)  # extra hybrid alphas (0 = cross, 1 = mono)
    temperatures: list[float | str] | None = None  # default: train.temperature (or 0.05); auto allowed
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    evaluate: list[str] = field(default_factory=lambda: ["xquad-r"])  # LAReQA sets and/or tatoeba
    # the tatoeba evaluation (out-of-domain bitext retrieval): which sets (xtreme = XTREME's 36, all = 112,
    # or codes) and at most how many sentence pairs of each
    tatoeba_languages: str = "xtreme"
    tatoeba_max_per_language: int | None = None
    eval_max_questions: int | None = None
    eval_languages: list[str] | None = None
    eval_batch_size: int = ENCODE_BATCH_SIZE
    eval_max_length: int | None = None
    # precision of every evaluation (auto | fp32 | bf16 | fp16); training's own is train.precision
    eval_precision: str = DEFAULT_PRECISION
    include_base: bool = True  # the untrained model as a reference row
    # the training-free baseline: each system again with its language subspace projected out
    # (langmix.models.debias), e.g. {source: tatoeba, k: null, per_language: 500, seed: 0, languages: null}
    debias: dict[str, Any] | None = None
    # WiSE-FT without retraining: each trained model also evaluated as (1 - w) x fine-tuned + w x start
    # model for each w here (langmix.models.merge); 0 < w <= 1. Not with train.merge_start (already merged)
    merge_weights: list[float] = field(default_factory=list)
    # the number-of-languages axis: each n trains on the first n languages of train.languages (their order
    # is the nesting: 2 of 4 are the first 2), same steps; empty: one run on train.languages as given
    language_counts: list[int] = field(default_factory=list)
    # domain-adaptive MLM pretraining before every training (langmix.training.pretrain), run once into
    # <output_dir>/pretrain, e.g. {max_steps: 500}; model, data and languages default to the train block's
    pretrain: dict[str, Any] | None = None
    # python | torchrun [options] | accelerate launch [options] (langmix.experiments.launcher)
    launcher: str | list[str] = "python"
    # other experiments' folders whose finished trainings / evaluations this one takes (as hard links) where
    # they were made with the same settings (langmix.experiments.reuse), e.g. a study of the recipe grid
    reuse_from: list[str] = field(default_factory=list)

    def validate(self) -> ExperimentConfig:
        """Check every field (an error names the key; :func:`load_experiment` adds the file). The ``train``
        block by the training configuration's own rules, the launcher by the known launchers'."""
        _keyed("train", lambda: validate_train_block(self.train))
        for key, values in (
            ("strategies", self.strategies),
            ("seeds", self.seeds),
            ("evaluate", self.evaluate),
        ):
            if not values:
                raise LangmixError(f"{key}: give at least one")
        for key, values in (
            ("strategies", self.strategies),
            ("seeds", self.seeds),
            ("temperatures", self.temperatures or []),
            ("alpha_sweep", self.alpha_sweep),
            ("merge_weights", self.merge_weights),
            ("language_counts", self.language_counts),
        ):
            _no_repeats(key, values)
        for w in self.merge_weights:
            if not 0.0 < w <= 1.0:
                raise LangmixError(
                    f"merge_weights: {w!r} is not in (0, 1] (the start model's share; 0 is the trained model "
                    "itself, always evaluated)"
                )
        _keyed("language_counts", self.language_sets)
        if self.pretrain is not None:
            _keyed("pretrain", lambda: pretrain_config(self, Path(self.output_dir)).validate())
        if self.merge_weights and coerce("merge_start", self.train.get("merge_start") or 0.0):
            raise LangmixError(
                "merge_weights: not with train.merge_start (the trained model/ is already merged); use one"
            )
        for strategy in self.strategies:
            _keyed("strategies", lambda s=strategy: effective_alpha(s, self.alpha))
        for a in self.alpha_sweep:
            _keyed("alpha_sweep", lambda a=a: effective_alpha("hybrid", a))
        for t in self.temperatures or []:
            check_value("temperature", t)
        for seed in self.seeds:
            check_value("seed", seed)
        for name in self.evaluate:
            if name not in LAREQA_BENCHMARKS and name != TATOEBA:
                known = ", ".join([*LAREQA_BENCHMARKS, TATOEBA])
                raise LangmixError(f"evaluate: cannot evaluate on {name!r} (known: {known})")
        if TATOEBA in self.evaluate:
            _keyed("tatoeba_languages", lambda: check_languages(self.tatoeba_codes() or []))
        for key in ("eval_max_questions", "eval_batch_size", "eval_max_length", "tatoeba_max_per_language"):
            POSITIVE_INT(key, getattr(self, key))
        if self.eval_precision not in CHOICES:
            raise LangmixError(f"eval_precision {self.eval_precision!r} is not one of {', '.join(CHOICES)}")
        launch_command(self.launcher)
        if self.debias is not None:
            options = _keyed("debias", lambda: debias_options(self.debias, self.eval_precision))
            # lareqa:X is the declared unfair upper bound (marked in every report); any other source that
            # is an evaluation's own text would make that evaluation's twins unfair without anyone asking
            source = parse_source(options.source)
            shared = [d for d in self.evaluate if source.fair and source.is_evaluation_text(d)]
            if shared:
                raise LangmixError(
                    f"debias: source {source.label} with a {shared[0]} evaluation would score the debiased "
                    "twins on the sentences their projection was estimated from; take another source "
                    f"or evaluate {shared[0]} in another experiment"
                )
        return self

    def tatoeba_codes(self) -> list[str] | None:
        """The Tatoeba sets evaluated, as ISO 639-3 codes (None: all 112)."""
        langs = parse_tatoeba_languages(self.tatoeba_languages)
        return None if langs is None else [tatoeba_code(lang) for lang in langs]

    def language_sets(self) -> dict[int, list[str]]:
        """``{n: the first n of train.languages}`` for each of ``language_counts`` (empty without them)."""
        if not self.language_counts:
            return {}
        order = self.train.get("languages")
        if isinstance(order, str):
            order = [x.strip() for x in order.split(",") if x.strip()]
        if not order:
            raise LangmixError(
                "give train.languages too: the axis takes its first n languages (e.g. [en, de, es, ar, "
                "zh, vi, hi] makes 2 = en, de)"
            )
        out = {}
        for n in self.language_counts:
            if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= len(order):
                raise LangmixError(
                    f"{n!r} is not a whole number from 2 (cross-lingual batches need two languages) to "
                    f"{len(order)} (the languages in train.languages)"
                )
            out[n] = list(order[:n])
        return out

    def temperature_axis(self) -> list[float]:
        """The grid's temperatures: ``temperatures``, else the train block's one (default 0.05); ``auto``
        resolved here, for the start model, so run names and identities hold the number trained with."""
        values = self.temperatures or [coerce("temperature", self.train.get("temperature", 0.05))]
        model = str(self.train.get("model", "embedded"))
        return [resolve_temperature(t, model).value for t in values]


def _keyed(key: str, check: Callable[[], Any]) -> Any:
    """Run ``check`` (returning what it returns); its LangmixError names ``key`` first (``train: batch_size
    must be ...``)."""
    try:
        return check()
    except LangmixError as exc:
        raise LangmixError(f"{key}: {exc}") from None


def _no_repeats(key: str, values: Iterable[Any]) -> None:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise LangmixError(f"{key}: {value!r} is listed twice (a run would be counted twice)")
        seen.add(value)


_HINTS = typing.get_type_hints(ExperimentConfig)
_EXAMPLES = {"debias": "{source: tatoeba}", "pretrain": "{max_steps: 500}"}
PRETRAIN = "pretrain"  # the experiment's pretraining run folder, under output_dir


def pretrain_config(
    config: ExperimentConfig, root: Path, data_root: str | Path | None = None
) -> PretrainConfig:
    """The experiment's ``pretrain:`` block as a :class:`PretrainConfig`: the start model, data and languages
    of the ``train`` block unless the block names others; written to ``<root>/pretrain``."""
    block = dict(config.pretrain or {})
    fixed = {"output_dir", "model", "resume", "overwrite", "data_root"}
    allowed = sorted(set(PretrainConfig.__dataclass_fields__) - fixed)
    unknown = sorted(set(block) - set(allowed))
    if unknown:
        raise LangmixError(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    train = config.train
    defaults: dict[str, Any] = {"data": train.get("data", ["mlqa-r"]), "languages": train.get("languages")}
    for key in ("data", "languages"):
        if isinstance(defaults[key], str):
            defaults[key] = [x.strip() for x in defaults[key].split(",") if x.strip()]
    return PretrainConfig(
        **{**defaults, **block},
        model=str(train.get("model", "embedded")),
        output_dir=str(root / PRETRAIN),
        data_root=None if data_root is None else str(data_root),
        resume="auto",
    )


def _typed(raw: dict[str, Any]) -> dict[str, Any]:
    """The file's values as their fields' types (``seeds: 5`` -> error naming ``seeds``)."""
    out = {}
    for key, value in raw.items():
        if key == "launcher":  # a string or a list; launch_command checks its form
            out[key] = value
        elif key in ("debias", "pretrain"):
            if value is not None and not isinstance(value, dict):
                raise LangmixError(f"{key}: expected a mapping such as {_EXAMPLES[key]}, got {value!r}")
            out[key] = value if value is None else {**value}
        elif key == "train":
            if not isinstance(value, dict):
                raise LangmixError(f"train: expected a mapping of training options, got {value!r}")
            out[key] = {**value}
        else:
            out[key] = parse_as(key, _HINTS[key], value)
    return out


def _read_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise LangmixError(f"{path}: experiment config not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise LangmixError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise LangmixError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise LangmixError(f"{path}: expected a mapping of key: value")
    return raw


def _with_recipe(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """``recipe: other.yaml`` (relative to this file): that file's ``train:`` block, under this file's own
    ``train:`` keys — so several studies share one training recipe instead of copies of it."""
    recipe = raw.pop("recipe", None)
    if recipe is None:
        return raw
    source = Path(str(recipe))
    source = source if source.is_absolute() else path.parent / source
    base = _read_mapping(source).get("train") or {}
    own = raw.get("train") or {}
    if not isinstance(base, dict) or not isinstance(own, dict):
        raise LangmixError(f"{path}: recipe {recipe}: train: expected a mapping of training options")
    return {**raw, "train": {**base, **own}}


def load_experiment(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """An experiment file (plus ``--set`` overrides), each value parsed as its key's type and checked; every
    problem is one line naming the file and the key. ``recipe: FILE`` takes FILE's ``train:`` block as the
    base of this one's."""
    path = Path(path)
    raw = _with_recipe(path, _read_mapping(path))
    for key, value in (overrides or {}).items():
        if key.startswith("train."):  # --set train.max_steps=100 reaches into the shared train block
            if not isinstance(raw.setdefault("train", {}), dict):
                raise LangmixError(f"{path}: train: expected a mapping of training options")
            raw["train"][key.removeprefix("train.")] = value
        else:
            raw[key] = value
    known = set(ExperimentConfig.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise LangmixError(
            f"{path}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(sorted(known))}"
        )
    try:
        return ExperimentConfig(**_typed(raw)).validate()
    except LangmixError as exc:
        raise LangmixError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid. ``system`` names what is compared (seeds of one system are averaged)."""

    strategy: str  # mono | cross | hybrid | base
    alpha: float | None
    temperature: float | None
    seed: int | None
    debiased: bool = False  # the same model, its language subspace projected out (config.debias)
    merge: float | None = None  # the trained model interpolated with the start model, this the start's share
    n_languages: int | None = None  # trained on the first n of train.languages (the language_counts axis)

    @property
    def system(self) -> str:
        if self.strategy == BASE:
            name = BASE
        else:
            name = self.strategy if self.strategy != "hybrid" else f"hybrid-a{self.alpha:g}"
            name = f"{name}-t{self.temperature:g}"
            if self.n_languages is not None:
                name += f"-L{self.n_languages}"
        if self.merge is not None:
            name += f"{MERGED}{self.merge:g}"
        return name + DEBIASED if self.debiased else name

    @property
    def trained_as(self) -> RunSpec:
        """The spec whose training (and run folder) this one shares: itself, or its plain trained twin."""
        return replace(self, debiased=False, merge=None)

    @property
    def is_variant(self) -> bool:
        """A transform of a trained model (debiased or merged), not a training setting of its own."""
        return self.debiased or self.merge is not None

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
    counts: list[int | None] = list(config.language_counts) or [None]
    ends = {1.0: "mono", 0.0: "cross"}  # alpha 1 / 0 are the mono / cross runs themselves
    sweep = [a for a in config.alpha_sweep if a != config.alpha and ends.get(a) not in config.strategies]
    for temp in temps:
        for seed, n, strategy in ((s, n, x) for s in config.seeds for n in counts for x in config.strategies):
            for a in [config.alpha, *sweep] if strategy == "hybrid" else [None]:
                runs.append(RunSpec(strategy, a, temp, seed, n_languages=n))
                runs.extend(
                    RunSpec(strategy, a, temp, seed, merge=w, n_languages=n) for w in config.merge_weights
                )
    if config.debias is not None:  # each twin right after the run whose model it projects
        twinned = set(config.debias.get("systems") or (BASE, *config.strategies))
        runs = [
            twin
            for spec in runs
            for twin in (spec, replace(spec, debiased=True))
            if twin is spec or spec.strategy in twinned
        ]
    return runs


def debias_options(block: dict[str, Any], precision: str) -> DebiasOptions:
    """The experiment's ``debias:`` block as :class:`DebiasOptions` (unknown keys and bad sources refused);
    its ``systems`` (which strategies get a debiased twin, e.g. ``[base]``; default all) is the grid's."""
    allowed = ("source", "languages", "k", "per_language", "seed", "systems")
    unknown = sorted(set(block) - set(allowed))
    if unknown:
        raise LangmixError(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    systems = block.get("systems")
    known = (BASE, "mono", "cross", "hybrid")
    if systems is not None and (not isinstance(systems, list) or not set(systems) <= set(known)):
        raise LangmixError(f"systems: expected a list of {', '.join(known)}, got {systems!r}")
    options = DebiasOptions(**{k: v for k, v in block.items() if k != "systems"}, precision=precision)
    parse_source(options.source)
    for key in ("per_language", "k"):
        value = getattr(options, key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise LangmixError(f"{key} must be a whole number >= 1, got {value!r}")
    return options


class ExperimentRunner:
    """Trains and evaluates each run of the grid that has not finished with the current settings."""

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        data_root: str | Path | None = None,
        progress: ProgressSink = SILENT,
        log: Callable[[str], None] = print,
        render: Renderer | None = None,
        render_tatoeba: Renderer | None = None,
    ):
        """``render`` / ``render_tatoeba`` make each LAReQA / Tatoeba evaluation's report files (the CLI
        passes :func:`langmix.reports.lareqa.report_files` and :func:`langmix.reports.tatoeba.report_files`);
        without them a run folder holds its numbers only."""
        _keyed(f"experiment {config.name}", config.validate)
        self.config = config
        self.launcher = launch_command(config.launcher)
        self.root = Path(config.output_dir)
        self.data_root = data_root
        self.progress = progress
        self.log = log
        self.render = render
        self.render_tatoeba = render_tatoeba
        self._digests = FileDigests()
        self._model_identity: str | None = None
        self._identities: dict[RunSpec, dict[str, Any]] = {}
        self._pretrain_identity: dict[str, Any] | None = None

    def run_dir(self, spec: RunSpec) -> Path:
        return self.root / "runs" / spec.trained_as.name

    def eval_key(self, spec: RunSpec, dataset: str) -> str:
        """The name of ``spec``'s evaluation on ``dataset`` (its folder under eval/, its identity key)."""
        key = dataset if spec.merge is None else f"{dataset}{MERGED}{spec.merge:g}"
        return key + DEBIASED if spec.debiased else key

    def eval_dir(self, spec: RunSpec, dataset: str) -> Path:
        return self.run_dir(spec) / "eval" / self.eval_key(spec, dataset)

    def model_name(self, spec: RunSpec) -> str:
        if spec.strategy == BASE:
            return self.config.train.get("model", "embedded")
        return str(self.run_dir(spec) / "train" / "model")

    def trained(self, spec: RunSpec) -> bool:
        return spec.strategy == BASE or is_finished(self.run_dir(spec) / "train")

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
        if spec.n_languages is not None:
            cfg["languages"] = self.config.language_sets()[spec.n_languages]
        if self.config.pretrain is not None:
            cfg["model"] = str(self.root / PRETRAIN / "model")
        if self.data_root is not None:
            cfg.setdefault("data_root", str(self.data_root))
        return cfg

    # ---------------------------------------------------------------- identity before reuse
    def identity(self, spec: RunSpec) -> dict[str, Any]:
        """What this run is: its ``train`` part and one ``eval`` part per dataset (:mod:`.identity`), as JSON
        stores it (so that it compares equal to a recorded one)."""
        if spec not in self._identities:
            if self._model_identity is None:
                self._model_identity = model_fingerprint(load_model(self.model_name(BASE_SPEC)))
            train: dict[str, Any] = {"model": self._model_identity}  # the untrained start model's
            if spec.strategy != BASE:
                cfg = load_config(None, self.train_config(spec))
                data_root = cfg.data_root or self.data_root
                train = {
                    **({"pretrain": self.pretrain_identity()} if self.config.pretrain is not None else {}),
                    "options": identity_options(cfg),
                    "data": {
                        name: digest
                        for source in cfg.data
                        for name, digest in training_data_identity(source, data_root, self._digests).items()
                    },
                    **train,
                    "precision": training_precision(cfg),
                }
            evals = {}
            for dataset in self.config.evaluate:
                if dataset == TATOEBA:
                    codes = self.config.tatoeba_codes()
                    root, files = tatoeba_files(codes, self.data_root)
                    subset = {"languages": codes, "max_per_language": self.config.tatoeba_max_per_language}
                else:
                    root, files = lareqa_files(dataset, self.data_root)
                    subset = {
                        "languages": self.config.eval_languages,
                        "max_questions": self.config.eval_max_questions,
                    }
                evals[self.eval_key(spec, dataset)] = {
                    **subset,
                    "max_length": self.config.eval_max_length,
                    "precision": resolve_precision(self.config.eval_precision),
                    "data": self._digests.of_files(root, files),
                    **({"debias": self.debias_settings()} if spec.debiased else {}),
                    **({"merge_start_weight": spec.merge} if spec.merge is not None else {}),
                }
            self._identities[spec] = json.loads(json.dumps({"train": train, "eval": evals}))
        return self._identities[spec]

    def pretrain_identity(self) -> dict[str, Any]:
        """The experiment's pretraining run as it must be (JSON-stored form); part of every trained run's."""
        if self._pretrain_identity is None:
            cfg = pretrain_config(self.config, self.root, self.data_root)
            self._pretrain_identity = json.loads(json.dumps(pretrain_identity(cfg)))
        return self._pretrain_identity

    def ensure_pretrained(self) -> None:
        """Run (or resume, or reuse) the experiment's pretraining; one made with other settings is moved to
        ``stale/`` first, with one line saying what differs."""
        cfg = pretrain_config(self.config, self.root, self.data_root)
        folder = Path(cfg.output_dir)
        recorded, expected = recorded_identity(folder), self.pretrain_identity()
        if folder.exists() and recorded != expected:
            aside = self._set_aside(folder, PRETRAIN)
            why = "; ".join(differences(recorded or {}, expected)) if recorded else "no recorded settings"
            self.log(
                f"[{PRETRAIN}] made with other settings ({why}): redoing it; the earlier one is in {aside}"
            )
        if is_finished(folder):
            self.log(f"[{PRETRAIN}] finished earlier with the same settings: reused")
            return
        self.log(f"[{PRETRAIN}] MLM pretraining of {cfg.model} on {', '.join(cfg.data) or cfg.text_dir}")
        result = pretrain(cfg, notice=self.log)
        self.log(
            f"[{PRETRAIN}] {result.global_step} steps; held-out MLM loss {result.val_loss_before} -> "
            f"{result.val_loss_after}"
        )

    def recorded(self, spec: RunSpec) -> dict[str, Any] | None:
        """The identity recorded in the run folder (None: none, or unreadable)."""
        return recorded_run_identity(self.run_dir(spec))

    def current(self, spec: RunSpec, dataset: str) -> bool:
        """Whether ``dataset``'s evaluation of ``spec`` on disk was made with the current settings."""
        recorded, expected = self.recorded(spec) or {}, self.identity(spec)
        key = self.eval_key(spec, dataset)
        return (
            recorded.get("train") == expected["train"]
            and (recorded.get("eval") or {}).get(key) == expected["eval"][key]
        )

    def _set_aside(self, folder: Path, label: str) -> Path:
        stale = self.root / "stale"
        stale.mkdir(parents=True, exist_ok=True)
        target = stale / f"{label}-{time.strftime('%Y%m%d-%H%M%S')}"
        n = 1
        while target.exists():
            n += 1
            target = target.with_name(f"{label}-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
        folder.rename(target)
        return target

    def reconcile(self, spec: RunSpec) -> None:
        """Move what was made with other settings to ``stale/`` (one line each, naming what differs), then
        record what this run is. What is left in the run folder is this run's, finished or not."""
        expected, recorded = self.identity(spec), self.recorded(spec)
        run_dir = self.run_dir(spec)
        if run_dir.exists() and (recorded is None or recorded.get("train") != expected["train"]):
            aside = self._set_aside(run_dir, spec.name)
            self.log(
                f"[{spec.name}] made with other settings ({_why(recorded, expected, 'train')}): "
                f"rerunning; the earlier run is now in {aside}"
            )
            recorded = None
        evals = dict((recorded or {}).get("eval") or {})
        for dataset in self.config.evaluate:
            key = self.eval_key(spec, dataset)
            part, folder = expected["eval"][key], self.eval_dir(spec, dataset)
            if folder.exists() and evals.get(key) != part:
                aside = self._set_aside(folder, f"{spec.name}-{dataset}")
                why = _why({"eval": evals.get(key) or {}}, {"eval": part}, "eval", key in evals)
                self.log(
                    f"[{spec.name}] {dataset} evaluated with other settings ({why}): re-evaluating; "
                    f"the earlier evaluation is now in {aside}"
                )
            evals[key] = part
        record = {"train": expected["train"], "eval": evals}
        record["hash"] = {
            "train": part_hash(record["train"]),
            "eval": {d: part_hash(p) for d, p in evals.items()},
        }
        if record != recorded:
            write_json(run_dir / "identity.json", record)

    # ---------------------------------------------------------------- the work
    def train(self, spec: RunSpec) -> None:
        cfg_path = self.run_dir(spec) / "train.yaml"
        write_atomic(cfg_path, yaml.safe_dump(self.train_config(spec), sort_keys=False))
        cmd = [*self.launcher, "train", "--config", str(cfg_path)]
        self.log(f"[{spec.name}] training: {' '.join(cmd)}")
        env = dict(os.environ)
        if self.data_root is not None:
            env["LANGMIX_DATA_DIR"] = str(self.data_root)
        proc = subprocess.run(cmd, env=env)
        if proc.returncode != 0 or not self.trained(spec):
            raise LangmixError(
                f"[{spec.name}] training failed (exit {proc.returncode}); see the output above"
            )

    def debias_settings(self) -> dict[str, Any]:
        """The ``debias:`` block without ``systems`` (which twins exist is not how a twin is made)."""
        return {k: v for k, v in (self.config.debias or {}).items() if k != "systems"}

    def subspace(self, model: Any) -> LanguageSubspace:
        """``model``'s language subspace as the experiment's ``debias:`` block estimates it (the texts are
        encoded through the embedding cache, at the evaluations' precision)."""
        options = debias_options(self.debias_settings(), self.config.eval_precision)
        encoder = Encoder(
            model,
            batch_size=self.config.eval_batch_size,
            use_cache=True,
            fingerprint=model_fingerprint(model),
            progress=self.progress,
            precision=options.precision,
        )
        texts = parse_source(options.source).texts(options.languages, self.data_root)
        return estimate_subspace(
            encoder, texts, k=options.k, per_language=options.per_language, seed=options.seed
        )

    def load(self, spec: RunSpec) -> Any:
        """The model ``spec`` evaluates: the trained (or start) model, or with ``merge`` its interpolation
        toward the start model, built in memory (the run folder keeps only the trained model)."""
        model = load_model(self.model_name(spec))
        if spec.merge is None:
            return model
        start = load_model(self.model_name(BASE_SPEC))
        return interpolate_model_named(model, start, spec.merge, ("the trained model", "the start model"))

    def evaluate(self, spec: RunSpec) -> None:
        model = self.load(spec)
        info = {
            "name": model_display_name(self.model_name(spec)),
            "run": spec.name,
            "system": spec.system,
            **asdict(spec),
            # seen / unseen means in reports and the summary; None for the untrained model
            "training_languages": training_languages(self.model_name(spec)),
        }
        transform = None
        if spec.debiased and not self.evaluated(spec):
            self.log(f"[{spec.name}] estimating the language subspace ({self.config.debias})")
            sub = self.subspace(model)
            transform = sub.apply
            info["debias"] = {
                **self.debias_settings(),
                "languages": list(sub.languages),
                "k": sub.k,
                "singular_values": [round(float(s), 6) for s in sub.singular_values],
            }
        for dataset in self.config.evaluate:
            target = self.eval_dir(spec, dataset)
            if (target / "metrics.json").is_file():
                continue
            self.log(f"[{spec.name}] evaluating on {dataset}")
            if dataset == TATOEBA:
                self.evaluate_tatoeba(model, info, target, transform)
                continue
            options = LareqaOptions(
                dataset=dataset,
                languages=self.config.eval_languages,
                max_questions=self.config.eval_max_questions,
                batch_size=self.config.eval_batch_size,
                max_length=self.config.eval_max_length,
                precision=self.config.eval_precision,
            )
            run = run_lareqa(
                model, options, data_root=self.data_root, progress=self.progress, transform=transform
            )
            write_lareqa_run(run, info, target, render=self.render)

    def evaluate_tatoeba(self, model: Any, info: dict[str, Any], target: Path, transform: Any) -> None:
        """Tatoeba X->en / en->X accuracy of ``model``, seen / unseen split by its training languages."""
        options = TatoebaOptions(
            languages=self.config.tatoeba_codes(),
            max_per_language=self.config.tatoeba_max_per_language,
            seen_languages=info["training_languages"],
            batch_size=self.config.eval_batch_size,
            max_length=self.config.eval_max_length,
            use_cache=True,  # like the LAReQA evaluations: keyed by the model's full fingerprint
            precision=self.config.eval_precision,
        )
        run = run_tatoeba(
            model, options, data_root=self.data_root, progress=self.progress, transform=transform
        )
        write_tatoeba_run(run, info, target, render=self.render_tatoeba)

    def run(self) -> dict[str, str]:
        """Run every cell not finished with the current settings; ``{run name: "skipped" | "done"}``."""
        status = {}
        start = time.perf_counter()
        with FolderLock(self.root, "experiment"):  # a second run of this grid waits, then reuses this one's
            if self.config.pretrain is not None and any(
                not self.evaluated(s) for s in grid(self.config) if s.strategy != BASE
            ):
                self.ensure_pretrained()
            for spec in grid(self.config):
                self.reconcile(spec)
                if self.config.reuse_from:
                    keys = [self.eval_key(spec, d) for d in self.config.evaluate]
                    expected, trained = self.identity(spec), spec.strategy != BASE
                    adopt_run(
                        self.config.reuse_from,
                        self.run_dir(spec),
                        expected,
                        keys,
                        trained=trained,
                        log=self.log,
                    )
                if self.evaluated(spec):
                    status[spec.name] = "skipped"
                    self.log(f"[{spec.name}] finished earlier with the same settings: skipped")
                    continue
                if not self.trained(spec):
                    self.train(spec)
                self.evaluate(spec)
                status[spec.name] = "done"
        self.log(f"grid finished in {time.perf_counter() - start:.0f} s")
        return status


BASE_SPEC = RunSpec(BASE, None, None, None)
DEBIASED = "+debias"  # suffix of a debiased twin's system name and evaluation folder
MERGED = "+merge"  # suffix (then the start model's share) of a merged variant's system name and folder


def _why(recorded: dict[str, Any] | None, expected: dict[str, Any], part: str, known: bool = True) -> str:
    """What differs in one identity part, for the one line that says why a run is redone."""
    if recorded is None or not known:
        return "no recorded settings: made by an older langmix, or not finished"
    return "; ".join(differences(recorded.get(part) or {}, expected[part])) or "settings changed"
