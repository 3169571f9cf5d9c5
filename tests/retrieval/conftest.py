"""Helpers for the retrieval tests: a cheap deterministic encoder and the tiny random-weight model."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest


class FakeEncoder:
    """Deterministic hash-seeded unit vectors: same text (with its prompt) -> same vector, in microseconds."""

    def __init__(self, dim: int = 16, prompts: dict[str, str] | None = None):
        self.dim = dim
        self.prompts = {"query": "query: ", "passage": "passage: "} if prompts is None else prompts
        self.calls: list[int] = []

    def get_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, sentences, prompt=None, normalize_embeddings=False, **kwargs):
        self.calls.append(len(sentences))
        out = np.empty((len(sentences), self.dim), dtype=np.float32)
        for i, text in enumerate(sentences):
            seed = int.from_bytes(
                hashlib.blake2b(((prompt or "") + text).encode(), digest_size=8).digest(), "little"
            )
            out[i] = np.random.default_rng(seed).standard_normal(self.dim)
        if normalize_embeddings:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture(scope="session")
def tiny_st(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_model_dir), device="cpu")
