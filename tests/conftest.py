"""Shared fixtures: the real data folder (../shared/data or $LANGMIX_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("LANGMIX_DATA_DIR") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not (path / "lareqa").is_dir():
        pytest.fail(f"real data not found at {path}: set LANGMIX_DATA_DIR (tests read ../shared/data)")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test writes caches under a per-session temp folder, never the user's ~/.cache."""
    if "LANGMIX_CACHE" not in os.environ:
        monkeypatch.setenv("LANGMIX_CACHE", str(tmp_path_factory.getbasetemp() / "langmix-cache"))
