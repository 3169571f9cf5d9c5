"""Batch plans for parallel data: monolingual, cross-lingual and hybrid batches (SPEC §3)."""

from __future__ import annotations

from langmix.batching.composition import BatchCounts, composition
from langmix.batching.samplers import (
    STRATEGIES,
    BatchPlan,
    BatchSpec,
    ParallelBatchSampler,
    ParallelRows,
    effective_alpha,
)

__all__ = [
    "STRATEGIES",
    "BatchCounts",
    "BatchPlan",
    "BatchSpec",
    "ParallelBatchSampler",
    "ParallelRows",
    "composition",
    "effective_alpha",
]
