"""Shared fixtures: the real data folder (../shared/data or $LANGMIX_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Tests use one torch thread (and so do the processes they start): the tiny model's matrices gain
# nothing from a second thread, and on a busy 2-core machine OpenMP's spinning threads make small
# ops many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("LANGMIX_DATA_DIR") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not (path / "lareqa").is_dir():
        pytest.fail(f"real data not found at {path}: set LANGMIX_DATA_DIR (tests read ../shared/data)")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, data_dir) -> Path:
    """A tiny random-weight ST model whose tokenizer was trained on a slice of the real MLQA-R text."""
    import json

    from tests.tiny_model import build_tiny_model

    texts = []
    for lang in ("en", "de", "ar", "zh", "hi", "es", "vi"):
        doc = json.loads((data_dir / f"lareqa/mlqa-r/{lang}.json").read_text())
        for article in doc["data"][:40]:
            for paragraph in article["paragraphs"]:
                texts.append(paragraph["context"])
                texts.extend(qa["question"] for qa in paragraph["qas"])
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), texts)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test writes caches under a per-session temp folder, never the user's ~/.cache."""
    if "LANGMIX_CACHE" not in os.environ:
        monkeypatch.setenv("LANGMIX_CACHE", str(tmp_path_factory.getbasetemp() / "langmix-cache"))
