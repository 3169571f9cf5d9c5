"""One precision option: ``auto`` per device (on mocked CPU flags), bf16 close to fp32, never mixed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from langmix.errors import LangmixError
from langmix.models import precision
from langmix.models.cache import model_fingerprint
from langmix.models.encoder import Encoder
from langmix.models.precision import (
    DEFAULT_PRECISION,
    cpu_has_native_bf16,
    device_description,
    model_precision,
    resolve_precision,
)
from langmix.retrieval.encode import encode_corpus

ZEN4 = "model name\t: AMD EPYC 9654\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 avx512bw\n"
SAPPHIRE_RAPIDS = "model name\t: Intel(R) Xeon(R) Platinum 8488C\nflags\t\t: avx512f amx_tile amx_bf16\n"
SKYLAKE = "model name\t: Intel(R) Xeon(R) Gold 6148\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"


@pytest.fixture
def cpuinfo(monkeypatch):
    """Set what /proc/cpuinfo says (None: no such file); torch's own probe says nothing unless told."""

    def use(text: str | None, torch_caps: dict | None = None) -> None:
        monkeypatch.setattr(precision, "_read_cpuinfo", lambda: text)
        monkeypatch.setattr(precision, "_torch_cpu_capabilities", lambda: dict(torch_caps or {}))

    return use


@pytest.mark.parametrize(
    ("text", "native"), [(ZEN4, True), (SAPPHIRE_RAPIDS, True), (SKYLAKE, False), ("processor\t: 0\n", False)]
)
def test_auto_on_cpu_follows_native_bf16(cpuinfo, text, native):
    cpuinfo(text)
    assert cpu_has_native_bf16() is native
    assert resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")


def test_without_cpuinfo_torch_is_asked(cpuinfo):
    cpuinfo(None, {"avx512_bf16": True, "cpu_name": "Some CPU"})
    assert resolve_precision("auto", "cpu") == "bf16"
    assert device_description("cpu") == {"device": "cpu", "cpu": "Some CPU", "bf16_native": True}
    cpuinfo(None, {"avx512_bf16": False, "amx_bf16": False})
    assert resolve_precision("auto", "cpu") == "fp32"


@pytest.mark.parametrize("choice", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("text", [ZEN4, SKYLAKE])
def test_explicit_choices_pass_through(cpuinfo, text, choice):
    cpuinfo(text)
    assert resolve_precision(choice, "cpu") == choice
    assert resolve_precision(choice.upper(), "cuda:0") == choice


def test_auto_on_cuda_is_bf16_where_supported(monkeypatch):
    monkeypatch.setattr(precision, "_cuda_bf16_supported", lambda: True)
    assert resolve_precision("auto", "cuda:1") == "bf16"
    monkeypatch.setattr(precision, "_cuda_bf16_supported", lambda: False)
    assert resolve_precision("auto", "cuda") == "fp32"  # not fp16: it can overflow silently
    assert resolve_precision("auto", "mps") == "fp32"


def test_unknown_precision_is_refused():
    with pytest.raises(LangmixError, match="unknown precision 'int8'; use one of auto, fp32, bf16, fp16"):
        resolve_precision("int8")
    assert DEFAULT_PRECISION == "auto"  # per machine; published fp32 numbers pin --precision fp32


def test_device_description_names_the_cpu(cpuinfo):
    cpuinfo(SAPPHIRE_RAPIDS)
    described = device_description("cpu")
    assert described == {"device": "cpu", "cpu": "Intel(R) Xeon(R) Platinum 8488C", "bf16_native": True}
    json.dumps(described)  # goes into metrics.json as is


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_model_dir), device="cpu")


TEXTS = [
    "Who wrote the Odyssey?",
    "Nairobi is the capital of Kenya.",
    "Die Hauptstadt von Deutschland ist Berlin, eine Stadt mit vielen Museen.",
    "北京是中国的首都。",
    "a",
]


def test_bf16_encode_is_close_to_fp32_and_leaves_the_model_alone(tiny):
    before = model_fingerprint(tiny)
    exact, _ = Encoder(tiny, batch_size=2, precision="fp32").encode(TEXTS, "passage")
    bf16 = Encoder(tiny, batch_size=2, precision="bf16")
    half, _ = bf16.encode(TEXTS, "passage")
    direct = bf16.encode_direct(TEXTS, "passage")
    assert bf16.precision == "bf16" and model_precision(bf16.runner) == "bf16"
    for vectors in (half, direct):
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)  # normalised in fp32
        assert (vectors * exact).sum(axis=1).min() > 0.99
    assert not np.array_equal(half, exact)  # it did run in bf16
    assert model_precision(tiny) == "fp32" and model_fingerprint(tiny) == before


def test_fp32_is_the_model_itself(tiny):
    encoder = Encoder(tiny, precision="fp32")
    assert encoder.precision == "fp32" and encoder.runner is tiny


def test_cache_never_serves_fp32_vectors_to_bf16(tiny, tmp_path):
    _, filled = Encoder(tiny, use_cache=True, cache_root=tmp_path, precision="fp32").encode(TEXTS, "query")
    assert filled.encoded == len(TEXTS)
    bf16 = Encoder(tiny, use_cache=True, cache_root=tmp_path, precision="bf16")
    half, stats = bf16.encode(TEXTS, "query")
    assert (stats.from_cache, stats.encoded) == (0, len(TEXTS))
    again, stats = Encoder(tiny, use_cache=True, cache_root=tmp_path, precision="bf16").encode(TEXTS, "query")
    assert stats.from_cache == len(TEXTS)
    np.testing.assert_array_equal(again, half)
    _, stats = Encoder(tiny, use_cache=True, cache_root=tmp_path, precision="fp32").encode(TEXTS, "query")
    assert (stats.from_cache, stats.encoded) == (len(TEXTS), 0)  # and fp32 still finds its own


def test_precision_is_part_of_an_encoded_corpus(tiny, tmp_path):
    pairs = [(f"d{i}", text) for i, text in enumerate(TEXTS)]
    exact = encode_corpus(tiny, pairs, tmp_path / "fp32", dtype="float32", precision="fp32")
    assert "precision" not in exact.embeddings.meta  # fp32 folders are as they always were
    half = encode_corpus(tiny, pairs, tmp_path / "bf16", dtype="float32", precision="bf16", shard_size=2)
    assert half.embeddings.meta["precision"] == "bf16"
    vectors = np.concatenate([a for _, a in half.embeddings.iter_shards()])
    assert (vectors * np.asarray(exact.embeddings.shard_array(0))).sum(axis=1).min() > 0.99
    with pytest.raises(LangmixError, match="precision"):  # a bf16 folder is not resumed at fp32
        encode_corpus(tiny, pairs, tmp_path / "bf16", dtype="float32", shard_size=2, precision="fp32")


def test_a_model_without_weights_runs_at_fp32_only():
    class Fake:
        def encode(self, sentences, **kwargs):
            return np.ones((len(sentences), 4), np.float32)

    assert Encoder(Fake()).encode_direct(["x"], "query").shape == (1, 4)
    with pytest.raises(LangmixError, match="precision bf16 needs a torch model"):
        Encoder(Fake(), precision="bf16").encode_direct(["x"], "query")
    assert torch.get_default_dtype() == torch.float32
