"""Batch plans for parallel data: monolingual, cross-lingual and hybrid batches (SPEC §3)."""

from __future__ import annotations

from langmix.batching.samplers import (
    STRATEGIES,
    BatchPlan,
    BatchSpec,
    ParallelBatchSampler,
    ParallelRows,
    composition,
)

__all__ = ["STRATEGIES", "BatchPlan", "BatchSpec", "ParallelBatchSampler", "ParallelRows", "composition"]
