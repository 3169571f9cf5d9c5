"""``pretrain(config)``: domain-adaptive masked-language-model pretraining of a retriever's encoder (DAPT,
Gururangan et al. 2020) on unlabelled in-domain text, so that ``langmix train`` can start from it.

The text is the training set's passages by default (every distinct positive and hard-negative text of
``data``, all languages; no queries, no pairing) or the lines of the ``.txt`` files in ``text_dir``. The
encoder of the sentence-transformers model is copied into the matching ``AutoModelForMaskedLM`` and trained
through the Hugging Face Trainer with the standard MLM collator (15 % of tokens, 80/10/10); its weights are
then copied back and the whole sentence-transformers model (tokenizer, pooling, normalisation, prompts) is
saved as ``model/``, a folder ``langmix train --model`` and ``SentenceTransformer`` load.

A retriever checkpoint rarely ships its MLM head (multilingual-e5 does not): the head's transform is then
new, randomly initialised, and its decoder is tied to the word embeddings. ``run.json`` records which
weights were new, and the held-out MLM loss before and after, so a user can see what was learned.

Run folder: ``run.json`` (identity, versions, data, result last), ``config.yaml``, ``checkpoints/``
(resume: auto continues from the newest complete one), ``log_history.json``, ``model/``. The folder rules
are training's (:func:`langmix.training.identity.claim_run_folder`): another run there is refused without
``overwrite``, a resume made with other settings names what differs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from langmix.data.parallel import load_parallel
from langmix.errors import LangmixError
from langmix.io import FolderLock, atomic_folder, library_versions, write_atomic, write_json
from langmix.models.cache import model_fingerprint
from langmix.models.loading import load_model
from langmix.models.precision import CHOICES, DEFAULT_PRECISION, device_description, resolve_precision
from langmix.training.checkpoints import resume_from
from langmix.training.identity import claim_run_folder, is_finished
from langmix.training.setup import device_arguments, trainer_device

logger = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    """One MLM pretraining run (every field is a ``langmix pretrain`` option and a ``pretrain:`` key)."""

    output_dir: str = "runs/pretrain"
    model: str = "embedded"
    data: list[str] = field(default_factory=lambda: ["mlqa-r"])  # whose passages are the text
    text_dir: str | None = None  # or: every non-empty line of the .txt files in this folder
    languages: list[str] | None = None  # of data (default: all)
    data_root: str | None = None
    max_texts: int | None = None  # at most this many texts (a seeded sample), e.g. for a quick run
    max_seq_length: int = 128
    mlm_probability: float = 0.15
    batch_size: int = 16
    max_steps: int = 200
    learning_rate: float = 5e-5
    warmup: float = 0.1
    weight_decay: float = 0.01
    val_fraction: float = 0.05  # held-out texts: MLM loss before and after
    save_steps: int = 100
    logging_steps: int = 10
    seed: int = 0
    precision: str = DEFAULT_PRECISION
    resume: str | None = "auto"  # auto: continue an interrupted run of the same settings
    overwrite: bool = False

    def validate(self) -> PretrainConfig:
        for key in ("max_seq_length", "batch_size", "max_steps", "save_steps", "logging_steps"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LangmixError(f"pretrain: {key} must be a whole number >= 1, got {value!r}")
        if self.max_texts is not None and self.max_texts < 2:
            raise LangmixError(f"pretrain: max_texts must be >= 2, got {self.max_texts!r}")
        if not 0 < self.mlm_probability < 1:
            raise LangmixError(f"pretrain: mlm_probability must be in (0, 1), got {self.mlm_probability!r}")
        if not 0 <= self.val_fraction < 0.5:
            raise LangmixError(f"pretrain: val_fraction must be in [0, 0.5), got {self.val_fraction!r}")
        if self.learning_rate <= 0 or self.warmup < 0:
            raise LangmixError("pretrain: learning_rate must be > 0 and warmup >= 0")
        if self.precision not in CHOICES:
            raise LangmixError(f"pretrain: precision {self.precision!r} is not one of {', '.join(CHOICES)}")
        if self.text_dir is None and not self.data:
            raise LangmixError("pretrain: give data (a training set whose passages are the text) or text_dir")
        return self

    def identity(self) -> dict[str, Any]:
        """The options that change what is learned (not where it is written or how it is resumed)."""
        skip = {"output_dir", "data_root", "resume", "overwrite", "logging_steps", "save_steps"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


def pretrain_texts(config: PretrainConfig) -> tuple[list[str], str]:
    """The texts (distinct, in a seeded order) and where they came from, in words."""
    if config.text_dir is not None:
        folder = Path(config.text_dir).expanduser()
        files = sorted(folder.rglob("*.txt")) if folder.is_dir() else []
        if not files:
            raise LangmixError(f"pretrain: text_dir {folder} holds no .txt files")
        texts = []
        for path in files:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise LangmixError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
            texts.extend(line.strip() for line in lines if line.strip())
        source = f"{len(files)} .txt file(s) in {folder}"
    else:
        texts = []
        for spec in config.data:
            ds = load_parallel(spec, languages=config.languages, data_root=config.data_root)
            for item in ds.items:
                for text in item.texts.values():
                    texts.extend([text.positive, *text.negatives])
        source = f"the passages of {', '.join(config.data)}"
    texts = sorted(set(texts))
    random.Random(config.seed).shuffle(texts)
    if config.max_texts is not None:
        texts = texts[: config.max_texts]
    if len(texts) < 2:
        raise LangmixError(f"pretrain: {source} gave {len(texts)} text(s); nothing to pretrain on")
    return texts, source


def texts_digest(texts: list[str]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for text in texts:
        digest.update(text.encode("utf-8") + b"\x00")
    return digest.hexdigest()


def masked_lm(model) -> tuple[Any, Any, list[str]]:
    """(the MLM model around a copy of ``model``'s encoder, the encoder, the MLM weights that are new)."""
    from transformers import AutoModelForMaskedLM

    first = model[0]
    encoder = getattr(first, "auto_model", None)
    if encoder is None:
        raise LangmixError("pretrain: the model's first module is not a Hugging Face transformer")
    try:
        mlm = AutoModelForMaskedLM.from_config(encoder.config)
    except ValueError as exc:
        raise LangmixError(f"pretrain: no masked-language-model head for this architecture ({exc})") from None
    base = getattr(mlm, mlm.base_model_prefix)
    missing, _ = base.load_state_dict(encoder.state_dict(), strict=False)
    if missing:
        shown = ", ".join(missing[:3])
        raise LangmixError(f"pretrain: the encoder lacks weights the MLM model needs: {shown}")
    mlm.tie_weights()
    prefix = mlm.base_model_prefix + "."
    new = sorted(k for k in mlm.state_dict() if not k.startswith(prefix))
    return mlm, encoder, new


def pretrain_identity(config: PretrainConfig, texts: list[str] | None = None, model=None) -> dict[str, Any]:
    """What makes a pretraining run this run: the options that change what is learned, the texts' content,
    the start model's fingerprint and the precision resolved for this machine (recorded in ``run.json``;
    a resume or an experiment's reuse needs it equal)."""
    if texts is None:
        texts, _ = pretrain_texts(config)
    if model is None:
        model = load_model(config.model)
    return {
        "options": config.identity(),
        "texts": texts_digest(texts),
        "model": model_fingerprint(model),
        "precision": resolve_precision(config.precision, trainer_device({})),
    }


@dataclass
class PretrainResult:
    run_dir: Path
    model_dir: Path
    global_step: int
    val_loss_before: float | None
    val_loss_after: float | None
    runtime_s: float


def pretrain(config: PretrainConfig, *, notice: Callable[[str], None] = logger.warning) -> PretrainResult:
    """MLM-pretrain ``config.model`` on the configured text; the result is ``<output_dir>/model``."""
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments, set_seed

    config.validate()
    start = time.perf_counter()
    run_dir = Path(config.output_dir)
    texts, source = pretrain_texts(config)
    set_seed(config.seed)
    model = load_model(config.model)
    identity = pretrain_identity(config, texts, model)
    n_val = int(len(texts) * config.val_fraction)
    train_texts, val_texts = texts[n_val:], texts[:n_val]
    tokenizer = model.tokenizer
    if tokenizer.mask_token is None:
        raise LangmixError("pretrain: the model's tokenizer has no mask token, so it cannot be MLM-trained")

    def tokenized(batch: list[str]) -> list[dict[str, Any]]:
        enc = tokenizer(
            batch, truncation=True, max_length=config.max_seq_length, return_special_tokens_mask=True
        )
        return [{k: enc[k][i] for k in enc} for i in range(len(batch))]

    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup if config.warmup < 1 else int(config.warmup),
        optim="adamw_torch",
        seed=config.seed,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        eval_strategy="no",
        report_to="none",
        disable_tqdm=False,
        **device_arguments(config.precision, {}),
    )
    main = args.process_index == 0
    with FolderLock(run_dir, "pretraining run") if main else contextlib.nullcontext():
        if config.resume and is_finished(run_dir):
            claim_run_folder(run_dir, config, identity)
            notice(f"{run_dir}: this pretraining finished earlier; nothing to resume")
            return _finished(run_dir)
        if main:
            claim_run_folder(run_dir, config, identity)
        resume = resume_from(config.resume, run_dir / "checkpoints", notice=notice, main=main)
        mlm, encoder, new = masked_lm(model)
        info = {
            "versions": library_versions(),
            "hardware": device_description(str(args.device)),
            "precision": identity["precision"],
            "texts": {"source": source, "train": len(train_texts), "validation": len(val_texts)},
            "new_weights": new,
            "identity": identity,
        }
        if main:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(run_dir / "config.yaml", yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
            write_json(run_dir / "run.json", info)
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=config.mlm_probability)
        trainer = Trainer(model=mlm, args=args, train_dataset=tokenized(train_texts), data_collator=collator)
        # the held-out texts masked once, with their own seed: before and after see the same masks
        masked = DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=config.mlm_probability, seed=config.seed
        )
        val = [
            masked(tokenized(val_texts[i : i + config.batch_size]))
            for i in range(0, len(val_texts), config.batch_size)
        ]
        before = mlm_loss(mlm, val, identity["precision"]) if resume is None else None
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        after = mlm_loss(mlm, val, identity["precision"])
        encoder.load_state_dict(getattr(mlm, mlm.base_model_prefix).state_dict(), strict=False)
        if main:
            with atomic_folder(run_dir / "model") as folder:
                model.save(str(folder))
            write_json(run_dir / "log_history.json", trainer.state.log_history)
            info["result"] = {
                "global_step": trainer.state.global_step,
                "val_mlm_loss_before": before,
                "val_mlm_loss_after": after,
                "resumed_from": str(resume) if resume else None,
                "runtime_s": round(time.perf_counter() - start, 2),
                "model": str(run_dir / "model"),
            }
            write_json(run_dir / "run.json", info)
    return _finished(run_dir)


def mlm_loss(mlm, batches: list[dict[str, Any]], precision: str) -> float | None:
    """Mean cross-entropy over every masked token of ``batches`` (None without any)."""
    import torch

    if not batches:
        return None
    device = next(mlm.parameters()).device
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    total, count = 0.0, 0
    was_training = mlm.training
    mlm.eval()
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            n = int((batch["labels"] != -100).sum())
            if n:
                total += float(mlm(**batch).loss) * n
                count += n
    mlm.train(was_training)
    return round(total / count, 6) if count else None


def _finished(run_dir: Path) -> PretrainResult:
    done = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["result"]
    return PretrainResult(
        run_dir=run_dir,
        model_dir=run_dir / "model",
        global_step=done["global_step"],
        val_loss_before=done["val_mlm_loss_before"],
        val_loss_after=done["val_mlm_loss_after"],
        runtime_s=done["runtime_s"],
    )
