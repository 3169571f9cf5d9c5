"""What a training run is made of, built from a :class:`~langmix.training.config.TrainConfig`: the data, the
model, its prompts, the loss, and the trainer arguments (the one place a config becomes
``SentenceTransformerTrainingArguments``)."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from langmix.data.parallel import ParallelDataset, load_parallel, split_validation
from langmix.errors import LangmixError
from langmix.models.encoder import resolve_prompt
from langmix.models.loading import load_model
from langmix.models.precision import resolve_precision
from langmix.training.config import TrainConfig


def load_training_data(config: TrainConfig) -> tuple[list[ParallelDataset], list[ParallelDataset]]:
    """The training datasets and their held-out validation parts (empty list without validation). SQuAD-format
    sources draw ``hard_negatives`` per row from the answer's paragraph with the run's seed."""
    datasets = [
        load_parallel(
            spec,
            languages=config.languages,
            passage=config.passage,
            data_root=config.data_root,
            max_items=config.max_items,
            hard_negatives=config.hard_negatives,
            seed=config.seed,
        )
        for spec in config.data
    ]
    names = [ds.name for ds in datasets]
    for i, ds in enumerate(datasets):
        if names.count(ds.name) > 1:
            ds.name = f"{ds.name}-{i}"
    if config.val_fraction <= 0 and not config.val_ids:
        return datasets, []
    train, val = [], []
    for ds in datasets:
        n = config.val_ids if config.val_ids else None
        tr, va = split_validation(ds, fraction=config.val_fraction, n=n, seed=config.seed)
        train.append(tr)
        val.append(va)
    return train, val


def load_training_model(config: TrainConfig):
    """The model to fine-tune: ``embedded``, a local folder or a Hugging Face id."""
    return load_model(config.model)


def freeze_word_embeddings(model) -> int:
    """Stop training the input word-embedding matrices; returns the number of frozen parameters."""
    frozen = 0
    for module in model.modules():
        get = getattr(module, "get_input_embeddings", None)
        if get is None or not callable(get):
            continue
        try:
            emb = get()
        except (NotImplementedError, AttributeError):
            continue
        if emb is not None and getattr(emb, "weight", None) is not None and emb.weight.requires_grad:
            emb.weight.requires_grad_(False)
            frozen += emb.weight.numel()
    if not frozen:
        raise LangmixError("--freeze-embeddings: the model has no input word-embedding matrix to freeze")
    return frozen


def resolve_prompts(config: TrainConfig, model, hard_negatives: int) -> dict[str, str]:
    """Prompt per training column: the query prompt on anchors, the passage prompt on positives and hard
    negatives — by langmix's one prompt rule, so training prefixes what evaluation prefixes."""

    def pick(value: str | None, kind: str) -> str:
        return resolve_prompt(model, kind, None if value == "auto" else value or "")

    query, passage = pick(config.query_prompt, "query"), pick(config.passage_prompt, "passage")
    prompts = {}
    if query:
        prompts["anchor"] = query
    if passage:
        prompts["positive"] = passage
        for k in range(hard_negatives):
            prompts[f"negative_{k + 1}"] = passage
    return prompts


def build_loss(config: TrainConfig, model):
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    if config.loss == "cached":
        return CachedMultipleNegativesRankingLoss(
            model,
            scale=config.scale,
            mini_batch_size=config.mini_batch_size,
            gather_across_devices=config.gather_across_devices,
        )
    return MultipleNegativesRankingLoss(
        model, scale=config.scale, gather_across_devices=config.gather_across_devices
    )


def trainer_device(config: TrainConfig | dict[str, Any]) -> str:
    """The kind of device the trainer will train on, as transformers picks it: ``cpu`` when asked
    (``trainer_args: {use_cpu: true}``) or when torch sees no accelerator, else the accelerator's. Takes a
    training config or just the trainer arguments."""
    import torch

    trainer_args = config if isinstance(config, dict) else config.trainer_args
    if trainer_args.get("use_cpu"):
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        return "xpu"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def training_precision(config: TrainConfig) -> str:
    """``config.precision`` resolved for the trainer's device (``auto`` -> ``fp32`` / ``bf16`` / ``fp16``)."""
    return resolve_precision(config.precision, trainer_device(config))


def device_arguments(precision: str, trainer_args: dict[str, Any]) -> dict[str, Any]:
    """Precision and device arguments of a Hugging Face trainer (``precision`` may be ``auto``): mixed
    precision is the trainer's own (autocast; weights stay fp32). On CPU the trainer must be told it is on
    CPU (``use_cpu``) for autocast, and for torchrun's processes (over gloo); an fp32 run on one CPU process
    is left exactly as it always was."""
    device = trainer_device(trainer_args)
    precision = resolve_precision(precision, device)
    if device == "cpu" and precision == "fp16":  # accelerate would silently train at fp32
        raise LangmixError("precision fp16: the trainer has no fp16 autocast on CPU; use bf16 or fp32")
    kwargs: dict[str, Any] = {"bf16": precision == "bf16", "fp16": precision == "fp16"}
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if device == "cpu" and (distributed or precision != "fp32"):
        kwargs["use_cpu"] = True
        if distributed:
            kwargs["ddp_backend"] = "gloo"
    return kwargs


def training_arguments(config: TrainConfig, prompts: dict[str, str], has_eval: bool):
    """The trainer arguments of ``config``: the fields that name a ``trainer`` argument as they are, the
    rest derived here (the run folder layout, precision and device, warmup, validation), then
    ``trainer_args``."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    kwargs: dict[str, Any] = {
        f.metadata["trainer"]: getattr(config, f.name) for f in fields(config) if f.metadata.get("trainer")
    }
    kwargs.update(
        output_dir=str(Path(config.output_dir) / "checkpoints"),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        optim="adamw_torch",
        warmup_steps=config.warmup if config.warmup < 1 else int(config.warmup),
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.eval_steps,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps if has_eval else None,
        load_best_model_at_end=has_eval,
        metric_for_best_model="eval_loss" if has_eval else None,
        greater_is_better=False if has_eval else None,
        report_to="none",
        prompts=prompts or None,
        dataloader_drop_last=True,
        disable_tqdm=False,
        **device_arguments(config.precision, config.trainer_args),
    )
    kwargs.update(config.trainer_args)
    try:
        return SentenceTransformerTrainingArguments(**kwargs)
    except (TypeError, ValueError) as exc:
        raise LangmixError(f"invalid trainer arguments: {exc}") from None


def trained_precision(args) -> str:
    """The precision the trainer runs at, read from its arguments (``trainer_args`` may have set it)."""
    return "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
