"""The batch plans of a run: the training plan from the config, and a fixed validation plan whose batch size
the held-out ids can fill."""

from __future__ import annotations

from collections.abc import Sequence

from langmix.batching.samplers import CROSS, MONO, BatchPlan
from langmix.data.parallel import ParallelDataset
from langmix.errors import LangmixError
from langmix.training.config import TrainConfig


def _largest_eval_batch(datasets: Sequence[ParallelDataset], strategy: str, world_size: int) -> int:
    """Largest per-device batch every validation batch group can be filled with."""
    limits = []
    for ds in datasets:
        if strategy != CROSS:
            per_lang: dict[str, int] = {}
            for item in ds.items:
                for lang in item.texts:
                    per_lang[lang] = per_lang.get(lang, 0) + 1
            limits.append(min(per_lang.values()))
        if strategy != MONO:
            limits.append(sum(1 for item in ds.items if len(item.texts) >= 2))
    return min(limits) // world_size


def build_plans(
    config: TrainConfig, train: Sequence[ParallelDataset], val: Sequence[ParallelDataset], world_size: int
) -> tuple[BatchPlan, BatchPlan | None]:
    """(training plan, validation plan or None without held-out ids)."""
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
