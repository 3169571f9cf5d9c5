"""Training configuration, declared once: every option is one field of :class:`TrainConfig` with its help.

That one declaration serves every way in: YAML files and ``--set key=value`` (:func:`load_config`), the
``langmix train`` flags (generated from the fields by ``langmix.cli.train``), the experiment's ``train:``
block (:func:`validate_train_block`) and sentence-transformers' trainer arguments (a field's ``trainer``
name; :func:`langmix.training.setup.training_arguments` is the one conversion). Whatever the source, a value
is parsed by :func:`coerce` and checked by :func:`check_value`. A new option is one :func:`option` line.

Why not a subclass of ``SentenceTransformerTrainingArguments``: these are run-level options (data, batching,
prompts, the run-folder layout) that are read and checked where no trainer will run (an experiment checks
its ``train:`` block in the process that only launches training), and that class sets up devices and the
distributed state when it is built. Trainer options that are not fields pass through ``trainer_args``.

Defaults follow the paper where it reports them (AdamW, lr 3e-5, weight decay 0.01, batch 100 —
here 32 per device by default so a laptop can run it; set ``batch_size: 100`` with
``loss: cached`` for the paper's batch) and SPEC §2 where it does not (temperature 0.05). They serve
any start model; the embedded model has a recipe of its own (:mod:`langmix.training.recipe`) that
:func:`load_config` puts under the given values.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from langmix.batching.samplers import HYBRID, STRATEGIES, effective_alpha
from langmix.errors import LangmixError
from langmix.models.precision import CHOICES as PRECISION_CHOICES
from langmix.models.precision import DEFAULT_PRECISION
from langmix.training.recipe import LENGTH_OPTIONS, recipe_for

LOSSES = ("mnrl", "cached")
AUTO = "auto"  # temperature: the start model's own training temperature where known

Check = Callable[[str, Any], None]


def option(
    default: Any,
    help: str,
    *,
    flags: tuple[str, ...] = (),
    choices: tuple[str, ...] = (),
    check: Check | None = None,
    trainer: str | None = None,
    envvar: str | None = None,
    identity: bool = True,
    identity_at_default: bool = True,
) -> Any:
    """A :class:`TrainConfig` field. ``help`` is what ``langmix train --help`` shows; ``flags`` are extra
    command-line names (``--lr``); ``choices`` / ``check`` validate it; ``trainer`` names the
    ``SentenceTransformerTrainingArguments`` field it fills as is; ``envvar`` stands in for a missing flag.
    ``identity=False`` marks an option that cannot change what is trained (where the run is written, how many
    threads): it is left out of the run's identity, so changing it does not stop a resume.
    ``identity_at_default=False`` (options added after runs were recorded) leaves the option out of the
    identity while it is at its default, which is what those runs did: they stay current and resumable.
    """
    metadata = {
        "help": help,
        "flags": flags,
        "choices": choices,
        "check": check,
        "trainer": trainer,
        "envvar": envvar,
        "identity": identity,
        "identity_at_default": identity_at_default,
    }
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def must(test: Callable[[Any], bool], requirement: str) -> Check:
    """A check: ``test(value)`` holds, else "NAME must be REQUIREMENT, got VALUE" (None means "not set")."""

    def check(name: str, value: Any) -> None:
        if value is not None and not test(value):
            raise LangmixError(f"{name} must be {requirement}, got {value}")

    return check


def _alpha_in_range(name: str, value: float) -> None:
    effective_alpha(HYBRID, value)  # the one range check of alpha lives with the batching rule


def _some_data(name: str, value: list[str]) -> None:
    if not value:
        raise LangmixError("no training data: set data (e.g. --data mlqa-r)")


def _temperature(name: str, value: float | str) -> None:
    """A finite number > 0, or ``auto`` (resolved as training starts: :mod:`langmix.training.temperature`)."""
    if value == AUTO:
        return
    if isinstance(value, str) or not (math.isfinite(value) and value > 0):
        raise LangmixError(
            f"{name} must be a finite number > 0, got {value} (or 'auto': the start model's own)"
        )


def _warmup(name: str, value: float) -> None:
    """A fraction of the steps (< 1) or a whole number of steps: 2.5 would silently become 2."""
    if not (math.isfinite(value) and value >= 0 and (value < 1 or value.is_integer())):
        raise LangmixError(
            f"{name} must be a fraction of the steps in [0, 1) or a whole number of steps, got {value}"
        )


POSITIVE_INT = must(lambda v: v >= 1, ">= 1")
NON_NEGATIVE_INT = must(lambda v: v >= 0, ">= 0")
# NaN passes no comparison and inf every one: a float option says "finite" explicitly.
FINITE_POSITIVE = must(lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
FINITE_NON_NEGATIVE = must(lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
SEED = must(lambda v: 0 <= v < 2**32, "in [0, 2**32)")  # numpy's seed range

# Trainer arguments langmix derives from its own options and the run-folder layout
# (setup.training_arguments): trainer_args may not set them, or the run would not be what its folder says.
DERIVED_TRAINER_ARGS = {
    "output_dir": "output_dir (--out)",
    "overwrite_output_dir": "--overwrite",
    "resume_from_checkpoint": "resume",
    "per_device_train_batch_size": "batch_size",
    "per_device_eval_batch_size": "batch_size",
    "warmup_steps": "warmup",
    "warmup_ratio": "warmup",
    "save_strategy": "eval_steps",
    "save_steps": "eval_steps",
    "eval_strategy": "eval_steps / val_fraction",
    "eval_steps": "eval_steps",
    "load_best_model_at_end": "val_fraction",
    "metric_for_best_model": "val_fraction",
    "greater_is_better": "val_fraction",
    "prompts": "query_prompt / passage_prompt",
    "dataloader_drop_last": "batches_per_epoch",
    "batch_sampler": "strategy",
    "multi_dataset_batch_sampler": "strategy",
}

# The groups of options (in `langmix train --help`): the first field of each, and its title.
SECTIONS = {
    "data": "Data",
    "strategy": "Batching (SPEC §3)",
    "model": "Model",
    "loss": "Loss and optimiser (SPEC §2)",
    "val_fraction": "Validation, checkpoints, logging",
}


@dataclass
class TrainConfig:
    data: list[str] = option(
        ["mlqa-r"],
        "comma-separated: mlqa-r | xquad-r | folder of <lang>.json | file.jsonl | mmarco[:path]",
        check=_some_data,
    )
    languages: list[str] | None = option(
        None, "comma-separated training languages (default: all in the data)"
    )
    passage: str = option("sentence", "SQuAD data: sentence | sentence+paragraph")
    max_items: int | None = option(None, "at most this many ids per dataset (quick runs)", check=POSITIVE_INT)
    data_root: str | None = option(
        None,
        "folder holding lareqa/ (default $LANGMIX_DATA_DIR)",
        flags=("--data-dir",),
        envvar="LANGMIX_DATA_DIR",
        identity=False,  # the data's content is part of a run's identity, not where it was read from
    )
    hard_negatives: int = option(
        0,
        "hard negatives per row: SQuAD-format data (mlqa-r, xquad-r, folders) draws them from the answer's "
        "paragraph, seeded (short paragraphs topped up from other paragraphs); JSONL / mMARCO carry them",
        check=NON_NEGATIVE_INT,
    )
    strategy: str = option(HYBRID, "mono | cross | hybrid", choices=STRATEGIES)
    alpha: float = option(0.5, "hybrid: probability of a monolingual batch", check=_alpha_in_range)
    batch_size: int = option(
        32, "rows per batch per device", check=must(lambda v: v >= 2, "at least 2 (in-batch negatives)")
    )
    batches_per_epoch: int | None = option(
        None, "batches per epoch (default: id-language rows / batch size)", check=POSITIVE_INT
    )
    model: str = option("embedded", "'embedded', a local folder or a Hugging Face id")
    max_seq_length: int | None = option(
        128, "max tokens per text while training (the model is saved with its own)", check=POSITIVE_INT
    )
    freeze_embeddings: bool = option(
        False,
        "freeze the word-embedding matrix (96M of e5-small's 118M parameters)",
        flags=("--freeze-embeddings/--train-embeddings",),
    )
    query_prompt: str | None = option("auto", "query prefix; 'auto': the model's own query prompt, '': none")
    passage_prompt: str | None = option(
        "auto", "passage prefix; 'auto': the model's own passage prompt, '': none"
    )
    merge_start: float = option(
        0.0,
        "after training, interpolate the weights with the start model's (WiSE-FT): 0 keeps the fine-tuned "
        "model, 1 is the start model; model/ is the merged model, model-unmerged/ the fine-tuned one",
        check=must(lambda v: 0 <= v <= 1, "in [0, 1]"),
        identity_at_default=False,  # runs recorded before this option existed were not merged
    )
    loss: str = option("mnrl", "mnrl | cached (GradCache, for large batches)", choices=LOSSES)
    mini_batch_size: int = option(16, "cached loss: rows encoded at once", check=POSITIVE_INT)
    temperature: float | str = option(
        0.05,
        "InfoNCE temperature (scale = 1/T); 'auto': the start model's own training temperature where known "
        "(multilingual-e5: 0.01), else 0.05 — the value used is recorded in run.json and config.yaml",
        check=_temperature,
    )
    gather_across_devices: bool = option(False, "in-batch negatives from all devices (DDP)")
    learning_rate: float = option(
        3e-5, "learning rate (paper: 3e-5)", flags=("--lr",), check=FINITE_POSITIVE, trainer="learning_rate"
    )
    weight_decay: float = option(
        0.01, "AdamW weight decay", check=FINITE_NON_NEGATIVE, trainer="weight_decay"
    )
    warmup: float = option(
        0.1, "learning-rate warmup: a fraction of the steps (< 1) or a number of steps", check=_warmup
    )
    max_grad_norm: float = option(
        1.0, "gradient clipping norm (0: none)", check=FINITE_NON_NEGATIVE, trainer="max_grad_norm"
    )
    gradient_accumulation_steps: int = option(
        1, "batches per optimizer step", check=POSITIVE_INT, trainer="gradient_accumulation_steps"
    )
    epochs: float = option(
        1.0,
        "training epochs; one epoch = (id-language rows / batch size) batches (fractions allowed)",
        check=FINITE_POSITIVE,
        trainer="num_train_epochs",
    )
    max_steps: int = option(
        -1,
        "optimizer steps (overrides --epochs; -1: train by epochs)",
        check=must(lambda v: v == -1 or v >= 1, ">= 1 (or -1: train by --epochs)"),
        trainer="max_steps",
    )
    precision: str = option(
        DEFAULT_PRECISION,
        "auto | fp32 | bf16 | fp16: mixed precision by the trainer's autocast (weights and the saved "
        "model stay fp32); auto: bf16 on a GPU that supports it or a CPU with native bf16, else fp32",
        choices=PRECISION_CHOICES,
    )
    seed: int = option(
        42, "seed of the batch plan, the model head and the trainer", check=SEED, trainer="seed"
    )
    val_fraction: float = option(
        0.05,
        "share of ids held out for the validation loss (0: none)",
        check=must(lambda v: 0 <= v < 1, "in [0, 1)"),
    )
    val_ids: int | None = option(None, "or an exact number of held-out ids per dataset", check=POSITIVE_INT)
    val_batches: int | None = option(
        None, "validation batches (default: all the held-out ids allow)", check=POSITIVE_INT
    )
    val_strategy: str = option(
        HYBRID, "batch mix of the validation loss (same for every strategy)", choices=STRATEGIES
    )
    eval_steps: int = option(100, "validate and checkpoint every N steps", check=POSITIVE_INT)
    save_total_limit: int = option(
        2, "checkpoints kept (the best is always kept)", check=POSITIVE_INT, trainer="save_total_limit"
    )
    logging_steps: int = option(10, "log the loss every N steps", check=POSITIVE_INT, trainer="logging_steps")
    lareqa_eval: str | None = option(None, "xquad-r | mlqa-r: LAReQA mAP at each validation")
    lareqa_max_questions: int | None = option(
        200, "questions per language of that LAReQA evaluation", check=POSITIVE_INT
    )
    lareqa_languages: list[str] | None = option(None, "languages of that LAReQA evaluation (default: all)")
    output_dir: str = option("runs/train/latest", "run folder", flags=("--out",), identity=False)
    resume: str | None = option(
        None,
        "'auto' (latest complete checkpoint in the run folder) or a checkpoint folder; refused when the "
        "run was made with other settings",
        identity=False,
    )
    overwrite: bool = option(
        False,
        "replace a run already in the output folder (finished or not); without it such a folder is refused",
        identity=False,
    )
    batch_log: bool = option(
        False, "write every trained batch (ids, languages) to batches.rank<r>.jsonl", identity=False
    )
    dataloader_num_workers: int = option(
        0,
        "data-loader worker processes",
        check=NON_NEGATIVE_INT,
        trainer="dataloader_num_workers",
        identity=False,
    )
    threads: int | None = option(
        None, "torch CPU threads (1 is often fastest on a busy CPU)", check=POSITIVE_INT, identity=False
    )
    trainer_args: dict[str, Any] = option(
        {},
        "extra SentenceTransformerTrainingArguments (a YAML mapping of its field names)",
        check=lambda name, value: check_trainer_args(value),
    )

    def validate(self) -> TrainConfig:
        """Check every field (choices, ranges, alpha); the one place a training configuration is validated."""
        for f in fields(self):
            check_value(f.name, getattr(self, f.name))
        if self.overwrite and self.resume:
            raise LangmixError("overwrite starts the run over and resume continues it: give one of them")
        return self

    @property
    def scale(self) -> float:
        """The loss's scale, 1 / temperature (``auto`` is resolved when training starts, not here)."""
        if self.temperature == AUTO:
            raise LangmixError("temperature auto has no scale until it is resolved for the start model")
        return 1.0 / float(self.temperature)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


FIELDS = {f.name: f for f in fields(TrainConfig)}
FIELD_NAMES = tuple(FIELDS)
# A field's extra command-line names work as keys too (--set lr=1e-5 is learning_rate).
ALIASES = {
    flag.lstrip("-").replace("-", "_"): f.name
    for f in FIELDS.values()
    for flag in f.metadata["flags"]
    if "/" not in flag
}
_HINTS = typing.get_type_hints(TrainConfig)


def split_optional(hint: Any) -> tuple[Any, bool]:
    """(base type, optional) of a type hint: ``list[str] | None`` -> (list[str], True); a union of several
    types stays one (``float | str`` -> (Union[float, str], False): parsed as the first that fits)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        rest = tuple(a for a in args if a is not type(None))
        return (rest[0] if len(rest) == 1 else typing.Union[rest]), type(None) in args  # noqa: UP007
    return hint, False


def field_type(name: str) -> tuple[Any, bool]:
    """(base type, optional) of a field: ``list[str] | None`` -> (list[str], True)."""
    return split_optional(_HINTS[name])


_BOOL_WORDS = {
    "true": True,
    "yes": True,
    "1": True,
    "on": True,
    "false": False,
    "no": False,
    "0": False,
    "off": False,
}


def _parse(base: Any, value: Any) -> Any:
    """``value`` as ``base``; raises TypeError / ValueError / KeyError when it is not one.

    Strict where YAML is surprising: ``no`` (read as False) is not a string, ``true`` is not a number."""
    origin = typing.get_origin(base)
    if origin in (typing.Union, types.UnionType):  # the first member that fits: 0.01 is a float, auto a str
        for member in typing.get_args(base):
            try:
                return _parse(member, value)
            except (TypeError, ValueError, KeyError, OverflowError):
                continue
        raise TypeError
    if origin is list or base is list:
        (item,) = typing.get_args(base) or (str,)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise TypeError
        return [_parse(item, v) for v in value]
    if origin is dict or base is dict:
        value = yaml.safe_load(value) if isinstance(value, str) else value
        if not isinstance(value, dict):
            raise TypeError
        return value
    if base is bool:
        if isinstance(value, str):
            return _BOOL_WORDS[value.lower()]  # KeyError: not a yes/no word
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise TypeError
    if isinstance(value, bool | list | dict):
        raise TypeError
    if base is str:
        return str(value)
    if base is int and isinstance(value, float) and not value.is_integer():
        raise TypeError
    return base(value)


def parse_as(name: str, hint: Any, value: Any) -> Any:
    """``value`` as the type ``hint`` (``"0.5"`` -> 0.5, ``"en,de"`` -> ["en", "de"]); LangmixError naming
    ``name`` when it is not one. Serves TrainConfig fields and the experiment file's keys alike."""
    base, optional = split_optional(hint)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if not optional:
            raise LangmixError(f"{name} cannot be empty")
        return None
    try:
        return _parse(base, value)
    except (TypeError, ValueError, KeyError, OverflowError, yaml.YAMLError):
        shown = str(base).replace("typing.", "") if typing.get_origin(base) else base.__name__
        raise LangmixError(f"{name}: cannot use {value!r} (expected {shown})") from None


def coerce(name: str, value: Any) -> Any:
    """A YAML / command-line value as the field's type."""
    return parse_as(name, _HINTS[name], value)


def check_value(name: str, value: Any) -> None:
    """The field's own rules: its choices and its check."""
    meta = FIELDS[name].metadata
    if meta["choices"] and value not in meta["choices"]:
        raise LangmixError(f"{name} must be one of {', '.join(meta['choices'])}, got {value!r}")
    if meta["check"] is not None:
        meta["check"](name, value)


def _hint_accepts(hint: Any, value: Any) -> bool:
    """Whether a YAML value fits a ``SentenceTransformerTrainingArguments`` field's type hint. An enum field
    (``OptimizerNames | str``) takes only its enum's values; classes and callables cannot come from YAML."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and isinstance(value, str):
            return any(value in {e.value for e in cls} for cls in enums)
        return any(_hint_accepts(a, value) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value in {e.value for e in hint}
    if origin is list or hint is list:
        return isinstance(value, list) and (not args or all(_hint_accepts(args[0], v) for v in value))
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return False


def _hint_name(hint: Any) -> str:
    """A type hint as a reader would write it: ``float``, ``int | None``, ``one of linear, cosine, ...``."""
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [str(e.value) for e in hint]
        return "one of " + ", ".join(values[:8]) + (", ..." if len(values) > 8 else "")
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        return " | ".join(_hint_name(a) for a in (enums or args))
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))


def check_trainer_args(value: Mapping[str, Any]) -> None:
    """``trainer_args``: only ``SentenceTransformerTrainingArguments`` fields, each with a value of its type,
    and none that a langmix option sets (use the option). Imported late: sentence-transformers is heavy, and
    most configurations have no ``trainer_args``."""
    if not value:
        return
    from sentence_transformers import SentenceTransformerTrainingArguments

    hints = typing.get_type_hints(SentenceTransformerTrainingArguments)
    fields_ = {f.name for f in fields(SentenceTransformerTrainingArguments) if f.init}
    options = {f.metadata["trainer"]: f.name for f in FIELDS.values() if f.metadata["trainer"]}
    for key, item in value.items():
        if key not in fields_:
            raise LangmixError(f"trainer_args: {key!r} is not a SentenceTransformerTrainingArguments field")
        owner = options.get(key) or DERIVED_TRAINER_ARGS.get(key)
        if owner:
            raise LangmixError(f"trainer_args: {key} is set by langmix; use the option {owner} instead")
        if not _hint_accepts(hints[key], item):
            raise LangmixError(f"trainer_args: {key} cannot be {item!r} (expected {_hint_name(hints[key])})")


def identity_options(config: TrainConfig) -> dict[str, Any]:
    """The options that decide what is trained (every field not marked ``identity=False``): what a resume
    must find unchanged, and what an experiment compares before it reuses a finished run."""
    return {
        name: getattr(config, name)
        for name, f in FIELDS.items()
        if f.metadata["identity"]
        and (f.metadata["identity_at_default"] or getattr(config, name) != _default(f))
    }


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _known(key: str, unknown: str) -> str:
    """The field a key names (``batch-size``, ``lr`` ...); LangmixError ``unknown`` otherwise."""
    name = key.replace("-", "_")
    name = ALIASES.get(name, name)
    if name not in FIELDS:
        raise LangmixError(f"{unknown} {key!r}; known: {', '.join(FIELD_NAMES)}")
    return name


def apply_overrides(config: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
    """A copy of ``config`` with ``overrides`` (field -> value; ``None`` values are ignored)."""
    changes = {}
    for key, value in overrides.items():
        name = _known(key, "unknown training option")
        if value is not None:
            changes[name] = coerce(name, value)
    return dataclasses.replace(config, **changes)


def validate_train_block(block: Mapping[str, Any]) -> dict[str, Any]:
    """An experiment's ``train:`` block, each value parsed and checked as its field (unknown key, wrong type
    or value -> LangmixError naming the key). Only the fields given: the grid sets strategy, seed, ... ."""
    out = {}
    for key, value in block.items():
        name = _known(key, "unknown train field")
        out[name] = coerce(name, value)
        check_value(name, out[name])
    return out


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["lr=1e-5", "languages=en,de"]`` (the CLI's ``--set``) -> a dict of YAML-parsed values."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise LangmixError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        out[key.strip()] = value
    return out


def read_yaml_options(path: str | Path) -> dict[str, Any]:
    """The option mapping of a YAML config file (one line per problem, never a traceback)."""
    path = Path(path)
    if not path.is_file():
        raise LangmixError(f"{path}: config file not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise LangmixError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise LangmixError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict):
        raise LangmixError(f"{path}: expected a mapping of option: value")
    if isinstance(doc.get("data"), str):  # one source, even if its path holds a comma
        doc["data"] = [doc["data"]]
    return doc


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults <- the start model's recipe <- YAML file (if any) <- overrides, validated.

    The library's way to build a configuration as ``langmix train`` does (``TrainConfig(...)`` is the bare
    declaration, without the recipe): the embedded model trains with
    :data:`langmix.training.recipe.EMBEDDED_RECIPE` unless an option is given; giving ``epochs`` or
    ``max_steps`` replaces the recipe's training length."""
    options = read_yaml_options(path) if path is not None else {}
    given = {**options, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    config = apply_overrides(TrainConfig(), _recipe_defaults(given))
    if path is not None:
        try:  # the file's own values are checked here, so that an error names the file
            config = apply_overrides(config, options)
            for key in options:
                name = _known(key, "unknown training option")
                check_value(name, getattr(config, name))
        except LangmixError as exc:
            raise LangmixError(f"{path}: {exc}") from None
    if overrides:
        config = apply_overrides(config, overrides)
    return config.validate()


def _recipe_defaults(given: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe entries of the start model that ``given`` (file + overrides) leaves unset."""
    named = {ALIASES.get(k.replace("-", "_"), k.replace("-", "_")) for k, v in given.items() if v is not None}
    model = given.get("model")  # a wrong one is refused later, where the error can name its file
    recipe = recipe_for(model if isinstance(model, str) else _default(FIELDS["model"]))
    if named & set(LENGTH_OPTIONS):
        recipe = {k: v for k, v in recipe.items() if k not in LENGTH_OPTIONS}
    return {k: v for k, v in recipe.items() if k not in named}
