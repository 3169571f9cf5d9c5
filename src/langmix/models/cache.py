"""The on-disk embedding cache: vectors keyed by model fingerprint, prompt and text.

An evaluation asks for tens of thousands of texts, many repeated (identical sentences in several
paragraphs) and all of them asked again by the next evaluation of the same model. The key is a fingerprint
of the model's weights and encoding options, the precision it ran at, the prompt text and the text itself, so
a retrained model never reads a stale vector, bf16 and fp32 vectors are never mixed, and a subset run
(``--max-questions``) reuses what a full run encoded.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from langmix.io import write_atomic
from langmix.paths import cache_dir

FLUSH_EVERY = 2048  # texts per cache shard: an interrupted run loses at most this much work


def model_fingerprint(model) -> str:
    """Hash of every parameter and buffer plus the encoding configuration of a SentenceTransformer."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    config = {"max_seq_length": model.max_seq_length, "modules": [type(m).__name__ for m in model]}
    digest.update(json.dumps(config, sort_keys=True).encode())
    return digest.hexdigest()


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """Append-only store of ``key -> vector`` in ``.npz`` shards, each written atomically."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._index: dict[bytes, np.ndarray] | None = None

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._index is None:
            self._index = {}
            for shard in sorted(self.root.glob("shard-*.npz")):
                with np.load(shard) as npz:
                    keys, vectors = npz["keys"], npz["vectors"]
                for key, vector in zip(keys, vectors, strict=True):
                    self._index[key.tobytes()] = vector
        return self._index

    def get(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        index = self._load()
        return [index.get(k) for k in keys]

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        self.root.mkdir(parents=True, exist_ok=True)
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1)
        name = f"shard-{os.getpid()}-{hashlib.blake2b(key_array.tobytes(), digest_size=8).hexdigest()}.npz"
        buffer = io.BytesIO()
        np.savez(buffer, keys=key_array, vectors=vectors.astype(np.float32))
        write_atomic(self.root / name, buffer.getvalue())
        index = self._load()
        for key, vector in zip(keys, vectors, strict=True):
            index[key] = vector


def cache_for(
    model,
    prompt: str,
    *,
    fingerprint: str | None = None,
    root: Path | None = None,
    precision: str = "fp32",
) -> EmbeddingCache:
    """The cache of ``model`` for texts encoded with the prompt text ``prompt`` (``""``: none) at the resolved
    ``precision``: fp32 vectors live where they always have, other precisions beside them
    (``<fingerprint>-bf16``), so one is never served for another.

    Pass ``fingerprint`` when already computed: hashing the weights takes ~1 s.
    """
    fingerprint = fingerprint or model_fingerprint(model)
    folder = fingerprint if precision == "fp32" else f"{fingerprint}-{precision}"
    prompt_key = hashlib.blake2b(prompt.encode(), digest_size=6).hexdigest()
    return EmbeddingCache((root or cache_dir() / "embeddings") / folder / prompt_key)
