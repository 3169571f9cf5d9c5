"""A deterministic fake model that can be held at its first call, run as a separate process by the
concurrency tests: ``python -m tests.retrieval.slow_encoder encode|cache FOLDER [BARRIER]``.

With ``BARRIER`` (a file path) the first ``encode`` call waits until that file exists, so a test can start
a second process while the first is in the middle of writing, every time, whatever the machine's speed.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

N_PASSAGES = 120


def passages() -> list[tuple[str, str]]:
    return [(f"d{i}", f"passage {i} about topic {i % 13}") for i in range(N_PASSAGES)]


class SlowEncoder:
    """Hash-seeded vectors (same text + prompt, same vector), optionally held at the first call."""

    dim = 8

    def __init__(self, barrier: Path | None = None):
        self.prompts = {"query": "query: ", "passage": "passage: "}
        self.barrier = barrier

    def get_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, sentences, prompt=None, normalize_embeddings=False, **kwargs):
        if self.barrier is not None:
            deadline = time.monotonic() + 60
            while not self.barrier.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            self.barrier = None
        time.sleep(float(os.environ.get("SLOW_ENCODER_SECONDS", "0.02")))  # per call (kill tests raise it)
        out = np.empty((len(sentences), self.dim), dtype=np.float32)
        for i, text in enumerate(sentences):
            seed = hashlib.blake2b(((prompt or "") + text).encode(), digest_size=8).digest()
            out[i] = np.random.default_rng(int.from_bytes(seed, "little")).standard_normal(self.dim)
        if normalize_embeddings:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


def encode_folder(folder: Path, model: SlowEncoder) -> None:
    from langmix.retrieval.encode import encode_corpus

    encode_corpus(model, passages(), folder, shard_size=40, chunk_size=8, batch_size=8, precision="fp32")


def fill_cache(root: Path, model: SlowEncoder) -> np.ndarray:
    from langmix.models.encoder import Encoder

    encoder = Encoder(
        model, batch_size=8, use_cache=True, fingerprint="slow", cache_root=root, precision="fp32"
    )
    return encoder.encode([text for _, text in passages()], "passage")[0]


def main(mode: str, folder: str, barrier: str | None = None) -> None:
    """``encode`` / ``cache``: held at the first model call until ``barrier`` exists; ``late-encode`` /
    ``late-cache``: create ``barrier`` (releasing the first process), then do the same work."""
    import langmix.retrieval.encode  # noqa: F401 - imported before the barrier: the overlap is the work

    gate = Path(barrier) if barrier else None
    late = mode.startswith("late-")
    if late and gate is not None:
        gate.touch()
    model = SlowEncoder(None if late else gate)
    if mode.endswith("encode"):
        encode_folder(Path(folder), model)
    else:
        fill_cache(Path(folder), model)
    print("done")


if __name__ == "__main__":
    main(*sys.argv[1:])
