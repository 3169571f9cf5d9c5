"""``train(config) -> TrainResult``: hybrid batch training of a sentence-transformers model (SPEC §2, §3).

The run folder (``config.output_dir``)::

    config.yaml              the resolved configuration (re-run with --config run/config.yaml)
    run.json                 library versions, data summaries, the batch plan, world size, results
    log_history.json         the trainer's log (loss, loss_mono, loss_cross, eval_loss, lr, ...)
    batch_composition.json   how many batches of each kind / language / dataset were trained on
    checkpoints/             HF checkpoints (resume with resume: auto); the best is kept
    model/                   the final model (the best checkpoint by validation loss), loads with
                             SentenceTransformer(path)
    batches.rank<r>.jsonl    with batch_log: every trained batch (ids, languages), per rank
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from langmix.batching.samplers import BatchPlan, composition
from langmix.data.parallel import ParallelDataset, load_parallel, split_validation
from langmix.errors import LangmixError
from langmix.io import library_versions, write_atomic, write_json
from langmix.training.config import TrainConfig


@dataclass
class TrainResult:
    run_dir: Path
    model_dir: Path
    global_step: int
    best_checkpoint: str | None
    best_metric: float | None
    train_loss: float | None
    runtime_s: float
    process_index: int = 0  # this process's rank (only rank 0 writes the run folder)
    log_history: list[dict[str, Any]] = field(default_factory=list)
    composition: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------- data and plans


def load_training_data(config: TrainConfig) -> tuple[list[ParallelDataset], list[ParallelDataset]]:
    """The training datasets and their held-out validation parts (empty list without validation)."""
    datasets = [
        load_parallel(
            spec,
            languages=config.languages,
            passage=config.passage,
            data_root=config.data_root,
            max_items=config.max_items,
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


def _largest_eval_batch(datasets: Sequence[ParallelDataset], strategy: str, world_size: int) -> int:
    """Largest per-device batch every validation batch group can be filled with."""
    limits = []
    for ds in datasets:
        if strategy != "cross":
            per_lang: dict[str, int] = {}
            for item in ds.items:
                for lang in item.texts:
                    per_lang[lang] = per_lang.get(lang, 0) + 1
            limits.append(min(per_lang.values()))
        if strategy != "mono":
            limits.append(sum(1 for item in ds.items if len(item.texts) >= 2))
    return min(limits) // world_size


def build_plans(
    config: TrainConfig, train: Sequence[ParallelDataset], val: Sequence[ParallelDataset], world_size: int
) -> tuple[BatchPlan, BatchPlan | None]:
    plan = BatchPlan(
        train,
        strategy=config.strategy,
        alpha=config.alpha,
        batch_size=config.batch_size,
        world_size=world_size,
        seed=config.seed,
        hard_negatives=config.hard_negatives,
        batches_per_epoch=config.batches_per_epoch,
    )
    if not val:
        return plan, None
    # Validation uses the same batch size where the held-out ids allow it (InfoNCE depends on it);
    # smaller held-out sets get smaller batches rather than an error.
    eval_bs = min(config.batch_size, _largest_eval_batch(val, config.val_strategy, world_size))
    if eval_bs < 2:
        raise LangmixError(
            f"the validation split is too small for {config.val_strategy} batches; raise val_fraction "
            f"(now {config.val_fraction}) or val_ids, or set val_fraction: 0"
        )
    eval_plan = BatchPlan(
        val,
        strategy=config.val_strategy,
        alpha=0.5,
        batch_size=eval_bs,
        world_size=world_size,
        seed=config.seed + 1,
        hard_negatives=config.hard_negatives,
        batches_per_epoch=config.val_batches,
    )
    return plan, eval_plan


def trained_batches(plan: BatchPlan, global_step: int, grad_accum: int) -> list[tuple[int, int]]:
    """(epoch, number of batches of that epoch) the trainer consumed for ``global_step`` steps."""
    per_device = len(plan) // plan.world_size
    steps_per_epoch = max(1, math.ceil(per_device / grad_accum))
    out = []
    epoch, left = 0, global_step
    while left > 0:
        steps = min(left, steps_per_epoch)
        out.append((epoch, min(per_device, steps * grad_accum) * plan.world_size))
        left -= steps
        epoch += 1
    return out


def plan_composition(plan: BatchPlan, global_step: int, grad_accum: int) -> dict[str, Any]:
    specs = []
    for epoch, n in trained_batches(plan, global_step, grad_accum):
        specs.extend(islice(plan.epoch_specs(epoch), n))
    return {"trained": composition(specs), "plan": plan.describe()}


# ----------------------------------------------------------------------------------- model


def load_training_model(config: TrainConfig):
    """The model to fine-tune: ``embedded``, a local folder or a Hugging Face id."""
    name = config.model
    try:
        from langmix.models.loading import load_model
    except ImportError:
        load_model = None
    if load_model is not None:
        model = load_model(name)
    else:  # the loader module is optional for local folders and hub ids
        if name == "embedded":
            raise LangmixError("the embedded model loader (langmix.models.loading) is not available")
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(name)
    return model


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
    model_prompts = getattr(model, "prompts", None) or {}

    def pick(value: str | None, key: str) -> str | None:
        if value == "auto":
            return model_prompts.get(key) or None
        return value or None

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


# ----------------------------------------------------------------------------------- arguments


def _has_accelerator() -> bool:
    import torch

    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())


def training_arguments(config: TrainConfig, prompts: dict[str, str], has_eval: bool):
    from sentence_transformers import SentenceTransformerTrainingArguments

    run_dir = Path(config.output_dir)
    warmup = config.warmup if config.warmup < 1 else int(config.warmup)
    kwargs: dict[str, Any] = {
        "output_dir": str(run_dir / "checkpoints"),
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "weight_decay": config.weight_decay,
        "optim": "adamw_torch",
        "warmup_steps": warmup,
        "max_grad_norm": config.max_grad_norm,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "seed": config.seed,
        "bf16": config.precision == "bf16",
        "fp16": config.precision == "fp16",
        "logging_steps": config.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": config.eval_steps,
        "save_total_limit": config.save_total_limit,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": config.eval_steps if has_eval else None,
        "load_best_model_at_end": has_eval,
        "metric_for_best_model": "eval_loss" if has_eval else None,
        "greater_is_better": False if has_eval else None,
        "report_to": "none",
        "prompts": prompts or None,
        "dataloader_drop_last": True,
        "dataloader_num_workers": config.dataloader_num_workers,
        "disable_tqdm": False,
    }
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not _has_accelerator():
        # torchrun / accelerate launch on CPU: multi-process CPU training over gloo
        kwargs.update(use_cpu=True, ddp_backend="gloo")
    kwargs.update(config.trainer_args)
    try:
        return SentenceTransformerTrainingArguments(**kwargs)
    except (TypeError, ValueError) as exc:
        raise LangmixError(f"invalid trainer arguments: {exc}") from None


# ----------------------------------------------------------------------------------- callbacks


def _callbacks(run_dir: Path):
    from transformers import TrainerCallback

    class LogHistoryWriter(TrainerCallback):
        """Keep run_dir/log_history.json current, so a killed run still has its log."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero:
                write_json(run_dir / "log_history.json", state.log_history)

    return [LogHistoryWriter()]


def _resume_path(config: TrainConfig) -> str | None:
    if not config.resume:
        return None
    if config.resume == "auto":
        from transformers.trainer_utils import get_last_checkpoint

        folder = Path(config.output_dir) / "checkpoints"
        return get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if not Path(config.resume).is_dir():
        raise LangmixError(f"resume: checkpoint folder {config.resume} not found")
    return str(config.resume)


# ----------------------------------------------------------------------------------- train


def train(config: TrainConfig, *, callbacks: Sequence[Any] = (), model=None) -> TrainResult:
    """Fine-tune ``config.model`` (or ``model``) on parallel data with the configured batching."""
    from transformers import set_seed

    from langmix.training.trainer import HybridTrainer, LareqaEvaluator

    config.validate()
    start = time.perf_counter()
    run_dir = Path(config.output_dir)
    train_sets, val_sets = load_training_data(config)

    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    if model is None:
        model = load_training_model(config)
    # Train with short sequences if asked, but save the model with its own maximum length, so that
    # evaluation (e.g. sentence+paragraph candidates) is not silently truncated to the training length.
    saved_max_len = model.max_seq_length
    if config.max_seq_length:
        model.max_seq_length = config.max_seq_length
    frozen = freeze_word_embeddings(model) if config.freeze_embeddings else 0
    prompts = resolve_prompts(config, model, config.hard_negatives)
    args = training_arguments(config, prompts, has_eval=bool(val_sets))
    plan, eval_plan = build_plans(config, train_sets, val_sets, args.world_size)

    main = args.process_index == 0
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(run_dir / "config.yaml", config.to_yaml())
        run_info = {
            "versions": library_versions(),
            "world_size": args.world_size,
            "device": str(args.device),
            "frozen_parameters": frozen,
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "prompts": prompts,
            "max_seq_length": {"train": model.max_seq_length, "saved_model": saved_max_len},
            "data": {
                "train": [ds.summary() for ds in train_sets],
                "validation": [ds.summary() for ds in val_sets],
            },
            "plan": plan.describe(),
            "validation_plan": eval_plan.describe() if eval_plan else None,
        }
        write_json(run_dir / "run.json", run_info)

    evaluator = None
    if config.lareqa_eval:
        evaluator = LareqaEvaluator(
            config.lareqa_eval,
            max_questions=config.lareqa_max_questions,
            languages=config.lareqa_languages,
            data_root=config.data_root,
        )
    trainer = HybridTrainer(
        model=model,
        args=args,
        loss=build_loss(config, model),
        evaluator=evaluator,
        callbacks=[*_callbacks(run_dir), *callbacks],
        plan=plan,
        eval_plan=eval_plan,
        batch_log_dir=run_dir if config.batch_log else None,
    )
    resume = _resume_path(config)
    output = trainer.train(resume_from_checkpoint=resume)

    model_dir = run_dir / "model"
    model.max_seq_length = saved_max_len
    trainer.save_model(str(model_dir))
    state = trainer.state
    comp = plan_composition(plan, state.global_step, config.gradient_accumulation_steps)
    result = TrainResult(
        run_dir=run_dir,
        model_dir=model_dir,
        global_step=state.global_step,
        best_checkpoint=state.best_model_checkpoint,
        best_metric=state.best_metric,
        train_loss=output.training_loss,
        runtime_s=time.perf_counter() - start,
        process_index=args.process_index,
        log_history=list(state.log_history),
        composition=comp,
    )
    if main:
        write_json(run_dir / "batch_composition.json", comp)
        write_json(run_dir / "log_history.json", state.log_history)
        run_info["result"] = {
            "global_step": result.global_step,
            "best_checkpoint": result.best_checkpoint,
            "best_eval_loss": result.best_metric,
            "train_loss": result.train_loss,
            "runtime_s": round(result.runtime_s, 2),
            "resumed_from": resume,
            "model": str(model_dir),
        }
        write_json(run_dir / "run.json", run_info)
    if args.world_size > 1:
        trainer.accelerator.wait_for_everyone()
    return result
