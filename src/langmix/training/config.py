"""Training configuration: one dataclass, loaded from YAML, overridden from the command line.

Defaults follow the paper where it reports them (AdamW, lr 3e-5, weight decay 0.01, batch 100 —
here 32 per device by default so a laptop can run it; set ``batch_size: 100`` with
``loss: cached`` for the paper's batch) and SPEC §2 where it does not (temperature 0.05).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from langmix.batching.samplers import STRATEGIES
from langmix.errors import LangmixError

LOSSES = ("mnrl", "cached")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    # data
    data: list[str] = field(default_factory=lambda: ["mlqa-r"])  # see langmix.data.parallel.load_parallel
    languages: list[str] | None = None  # restrict training languages (default: all in the data)
    passage: str = "sentence"  # sentence | sentence+paragraph (SQuAD-format data)
    max_items: int | None = None  # keep at most this many ids per dataset (quick runs)
    data_root: str | None = None  # folder holding lareqa/ (default $LANGMIX_DATA_DIR)
    hard_negatives: int = 0  # hard negatives per row (the data must have them)
    # batching (SPEC §3)
    strategy: str = "hybrid"  # mono | cross | hybrid
    alpha: float = 0.5  # hybrid: probability of a monolingual batch
    batch_size: int = 32  # per device
    batches_per_epoch: int | None = None  # default: id-language rows / batch size
    # model
    model: str = "embedded"  # "embedded", a local folder or a Hugging Face id
    max_seq_length: int | None = 128
    freeze_embeddings: bool = False  # freeze the word-embedding matrix (96M of e5-small's 118M params)
    query_prompt: str | None = "auto"  # "auto": the model's "query" prompt if it has one
    passage_prompt: str | None = "auto"
    # loss and optimiser (SPEC §2)
    loss: str = "mnrl"  # mnrl | cached (GradCache: batches larger than memory allows)
    mini_batch_size: int = 16  # cached loss: rows encoded at once
    temperature: float = 0.05  # scale = 1 / temperature
    gather_across_devices: bool = False  # negatives from all devices (DDP)
    learning_rate: float = 3e-5
    weight_decay: float = 0.01
    warmup: float = 0.1  # a fraction of the steps (< 1) or a number of steps
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    precision: str = "fp32"  # fp32 | bf16 | fp16
    seed: int = 42
    # validation, checkpoints, logging
    val_fraction: float = 0.05  # ids held out for the validation loss (0: no validation)
    val_ids: int | None = None  # or an exact number of held-out ids
    val_batches: int | None = None  # validation batches (default: all the held-out ids allow)
    val_strategy: str = "hybrid"  # batch mix of the validation loss (same for every strategy)
    eval_steps: int = 100  # validation (and checkpoint) every this many steps
    save_total_limit: int = 2
    logging_steps: int = 10
    lareqa_eval: str | None = None  # "xquad-r" / "mlqa-r": LAReQA mAP at every evaluation
    lareqa_max_questions: int | None = 200
    lareqa_languages: list[str] | None = None
    output_dir: str = "runs/train/latest"
    resume: str | None = None  # "auto" (latest checkpoint in output_dir) or a checkpoint folder
    batch_log: bool = False  # write every trained batch (ids, languages) per rank: batches.rank<r>.jsonl
    dataloader_num_workers: int = 0
    threads: int | None = None  # torch CPU threads (1 is often fastest on a busy machine)
    trainer_args: dict[str, Any] = field(default_factory=dict)  # extra SentenceTransformerTrainingArguments

    def validate(self) -> TrainConfig:
        if self.strategy not in STRATEGIES:
            raise LangmixError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.val_strategy not in STRATEGIES:
            raise LangmixError(
                f"val_strategy must be one of {', '.join(STRATEGIES)}, got {self.val_strategy!r}"
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise LangmixError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.loss not in LOSSES:
            raise LangmixError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.precision not in PRECISIONS:
            raise LangmixError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.temperature <= 0:
            raise LangmixError(f"temperature must be > 0, got {self.temperature}")
        if self.batch_size < 2:
            raise LangmixError(f"batch_size must be at least 2 (in-batch negatives), got {self.batch_size}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise LangmixError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if not self.data:
            raise LangmixError("no training data: set data (e.g. --data mlqa-r)")
        if self.threads is not None and self.threads < 1:
            raise LangmixError(f"threads must be >= 1, got {self.threads}")
        if self.eval_steps < 1 or self.logging_steps < 1:
            raise LangmixError("eval_steps and logging_steps must be >= 1")
        return self

    @property
    def scale(self) -> float:
        return 1.0 / self.temperature

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


_HINTS = typing.get_type_hints(TrainConfig)
FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))


def _coerce(name: str, value: Any) -> Any:
    """Turn a YAML/CLI value into the field's type (``"0.5"`` -> 0.5, ``"en,de"`` -> ["en", "de"])."""
    hint = _HINTS[name]
    optional = False
    base = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        optional = type(None) in args
        base = next(a for a in args if a is not type(None))
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if not optional:
            raise LangmixError(f"{name} cannot be empty")
        return None
    origin = typing.get_origin(base)
    try:
        if origin is list:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list):
                raise TypeError
            return [str(v) for v in value]
        if origin is dict:
            if isinstance(value, str):
                value = yaml.safe_load(value)
            if not isinstance(value, dict):
                raise TypeError
            return value
        if base is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "yes", "1", "on"):
                    return True
                if value.lower() in ("false", "no", "0", "off"):
                    return False
                raise TypeError
            return bool(value)
        if base is int:
            if isinstance(value, float) and not value.is_integer():
                raise TypeError
            return int(value)
        if base is float:
            return float(value)
        if base is str:
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise LangmixError(f"{name}: cannot use {value!r} (expected {getattr(base, '__name__', base)})")


def apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """A copy of ``config`` with ``overrides`` (field -> value; ``None`` values are ignored)."""
    changes = {}
    for key, value in overrides.items():
        key = key.replace("-", "_")
        if key not in FIELD_NAMES:
            raise LangmixError(f"unknown training option {key!r}; known: {', '.join(FIELD_NAMES)}")
        if value is None:
            continue
        changes[key] = _coerce(key, value)
    return dataclasses.replace(config, **changes)


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


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults <- YAML file (if any) <- overrides, validated."""
    config = TrainConfig()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise LangmixError(f"{path}: config file not found")
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise LangmixError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise LangmixError(f"{path}: expected a mapping of option: value")
        if isinstance(doc.get("data"), str):
            doc["data"] = [doc["data"]]
        config = apply_overrides(config, doc)
    if overrides:
        config = apply_overrides(config, overrides)
    return config.validate()
