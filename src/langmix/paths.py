"""Where langmix reads data and keeps its caches.

``LANGMIX_DATA_DIR`` points at a folder with ``lareqa/xquad-r/*.json`` etc. (offline use);
``LANGMIX_CACHE`` (default ``~/.cache/langmix``) holds the converted embedded model, the data that
``langmix data fetch`` downloads (under ``data/``, in the same layout) and the embedding cache.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("LANGMIX_CACHE") or Path.home() / ".cache" / "langmix"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path | None:
    """The offline data folder, or None when the user has not set one."""
    value = os.environ.get("LANGMIX_DATA_DIR")
    return Path(value) if value else None


def data_cache_dir() -> Path:
    """Where ``langmix data fetch`` puts benchmark files: a data root laid out as ``LANGMIX_DATA_DIR``."""
    return cache_dir() / "data"
