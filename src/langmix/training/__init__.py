"""Hybrid batch training (SPEC §2, §3): ``train(TrainConfig) -> TrainResult`` on sentence-transformers'
trainer."""

from __future__ import annotations

from langmix.training.api import TrainResult, train
from langmix.training.config import TrainConfig, load_config

__all__ = ["TrainConfig", "TrainResult", "load_config", "train"]
