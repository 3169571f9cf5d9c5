"""Hybrid batch training (SPEC §2, §3): ``train(TrainConfig) -> TrainResult`` on sentence-transformers'
trainer."""

from __future__ import annotations

from langmix.training.api import TrainResult, train
from langmix.training.config import FIELD_NAMES, TrainConfig, load_config, parse_set, validate_train_block

__all__ = [
    "FIELD_NAMES",
    "TrainConfig",
    "TrainResult",
    "load_config",
    "parse_set",
    "train",
    "validate_train_block",
]
