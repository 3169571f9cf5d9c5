"""Encode texts once per model: deduplicated, length-sorted, cached on disk by model and text.

An evaluation asks for tens of thousands of texts, many repeated (identical sentences in several
paragraphs) and all of them asked again by the next evaluation of the same model. The cache key is
a fingerprint of the model's weights and encoding options plus the text, so a retrained model never
reads a stale vector, and a subset run (``--max-questions``) reuses what a full run encoded.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass
class EncodeStats:
    """How much encoding a request really cost (reported by the benchmark and in metrics.json)."""

    requested: int = 0
    unique: int = 0
    from_cache: int = 0
    encoded: int = 0
    batches: int = 0

    def add(self, other: EncodeStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def cache_for(
    model, prompt_name: str | None, *, fingerprint: str | None = None, root: Path | None = None
) -> EmbeddingCache:
    """The cache of ``model`` (pass ``fingerprint`` when already computed: hashing weights takes ~1 s)."""
    fingerprint = fingerprint or model_fingerprint(model)
    prompt = (model.prompts or {}).get(prompt_name, "") if prompt_name else ""
    prompt_key = hashlib.blake2b(prompt.encode(), digest_size=6).hexdigest()
    return EmbeddingCache((root or cache_dir() / "embeddings") / fingerprint / prompt_key)


def encode_texts(
    model,
    texts: Sequence[str],
    *,
    prompt_name: str | None = None,
    batch_size: int = 64,
    cache: EmbeddingCache | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, EncodeStats]:
    """L2-normalised float32 embeddings of ``texts`` in input order, each distinct text encoded at most once.

    ``prompt_name`` selects one of the model's prompts (``"query"``/``"passage"``); when the model has
    no such prompt the text is encoded as is. ``on_batch(n)`` reports progress in texts.
    """
    stats = EncodeStats(requested=len(texts))
    unique = list(dict.fromkeys(texts))
    stats.unique = len(unique)
    keys = [text_key(t) for t in unique]
    found = cache.get(keys) if cache is not None else [None] * len(unique)
    missing = [i for i, v in enumerate(found) if v is None]
    stats.from_cache = len(unique) - len(missing)
    if on_batch is not None and stats.from_cache:
        on_batch(stats.from_cache)
    prompt = prompt_name if prompt_name and prompt_name in (model.prompts or {}) else None
    # longest first: batches of similar length waste little padding, and the slowest batch comes first
    missing.sort(key=lambda i: -len(unique[i]))
    pending: list[int] = []
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        vectors = model.encode(
            [unique[i] for i in chunk],
            prompt_name=prompt,
            batch_size=batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32)
        for i, v in zip(chunk, vectors, strict=True):
            found[i] = v
        pending.extend(chunk)
        if cache is not None and (len(pending) >= FLUSH_EVERY or start + batch_size >= len(missing)):
            cache.put([keys[i] for i in pending], np.stack([found[i] for i in pending]))
            pending = []
        stats.encoded += len(chunk)
        stats.batches += 1
        if on_batch is not None:
            on_batch(len(chunk))
    dim = model.get_sentence_embedding_dimension() if not unique else len(found[0])
    table = np.stack(found) if unique else np.zeros((0, dim or 0), np.float32)
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    table = table / np.where(norms > 0, norms, 1.0)
    position = {t: i for i, t in enumerate(unique)}
    return table[[position[t] for t in texts]], stats
