"""The one encoder: one prompt rule everywhere, dedupe + cache, and the LAReQA arithmetic kept exact."""

from __future__ import annotations

import numpy as np
import pytest

from langmix.data.lareqa import load_lareqa
from langmix.errors import LangmixError
from langmix.evaluation.api import encode_lareqa
from langmix.models.encoder import Encoder, resolve_prompt
from langmix.retrieval.encode import encode_corpus, encode_queries
from langmix.retrieval.shards import ShardedEmbeddings

DOC_PROMPTS = {"query": "query: ", "document": "doc: "}  # passage prompt under sentence-transformers' name


class Prompted:
    def __init__(self, prompts):
        self.prompts = prompts


@pytest.fixture(scope="module")
def doc_model(tiny_model_dir):
    """The tiny model with its passage prompt stored under ``document``."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    model.prompts = dict(DOC_PROMPTS)
    return model


@pytest.fixture(scope="module")
def lareqa_small(data_dir):
    return load_lareqa("xquad-r", languages=["en", "de"], data_root=data_dir, max_questions=3)


def test_one_prompt_rule():
    assert resolve_prompt(Prompted({"query": "q: ", "passage": "p: ", "document": "d: "}), "passage") == "p: "
    assert resolve_prompt(Prompted({"corpus": "c: ", "doc": "x: "}), "passage") == "x: "
    assert resolve_prompt(Prompted({"document": "d: "}), "query") == ""
    assert resolve_prompt(Prompted({"query": "q: "}), "query", "") == ""
    assert resolve_prompt(Prompted({"query": "q: "}), "query", "mine: ") == "mine: "
    assert resolve_prompt(object(), "passage") == ""
    with pytest.raises(LangmixError, match="unknown text kind 'title'"):
        resolve_prompt(Prompted({}), "title")


def test_document_prompt_reaches_lareqa_and_retrieval(tmp_path, doc_model, lareqa_small):
    """A passage prompt stored under ``document`` is used by LAReQA and MIRACL/BEIR corpus encoding."""
    texts = lareqa_small.candidate_texts("sentence")
    explicit = Encoder(doc_model, prompts={"passage": "doc: "})
    none = Encoder(doc_model, prompts={"passage": ""})

    _, candidates, _ = encode_lareqa(Encoder(doc_model), lareqa_small)
    np.testing.assert_array_equal(candidates, explicit.encode(texts, "passage")[0])
    assert not np.allclose(candidates, none.encode(texts, "passage")[0])

    pairs = [(str(i), text) for i, text in enumerate(texts[:20])]
    result = encode_corpus(doc_model, pairs, tmp_path / "emb", dtype="float32")
    assert result.embeddings.meta["prompt"] == "doc: "
    direct = explicit.encode_direct([t for _, t in pairs], "passage")
    np.testing.assert_array_equal(ShardedEmbeddings(tmp_path / "emb").load(), direct)

    queries = encode_queries(doc_model, ["who wrote the odyssey?"], precision="fp32")
    expected = doc_model.encode(["who wrote the odyssey?"], prompt="query: ", normalize_embeddings=True)
    np.testing.assert_array_equal(queries, expected)


def test_document_prompt_reaches_training(doc_model):
    """... and training: the positive and every hard negative get it."""
    from langmix.training.api import resolve_prompts
    from langmix.training.config import TrainConfig

    assert resolve_prompts(TrainConfig(), doc_model, 1) == {
        "anchor": "query: ",
        "positive": "doc: ",
        "negative_1": "doc: ",
    }


def test_lareqa_arithmetic_is_kept(tiny_st_model, lareqa_small):
    """Vectors are the model's float32 output normalised in numpy, batch by batch longest first."""
    texts = lareqa_small.q_text
    vectors, stats = Encoder(tiny_st_model, batch_size=4, precision="fp32").encode(texts, "query")
    unique = list(dict.fromkeys(texts))
    order = sorted(range(len(unique)), key=lambda i: -len(unique[i]))
    raw = np.zeros((len(unique), vectors.shape[1]), np.float32)
    for start in range(0, len(order), 4):
        chunk = order[start : start + 4]
        raw[chunk] = tiny_st_model.encode(
            [unique[i] for i in chunk], prompt_name="query", batch_size=4, convert_to_numpy=True
        )
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    expected = (raw / np.where(norms > 0, norms, 1.0))[[unique.index(t) for t in texts]]
    np.testing.assert_array_equal(vectors, expected)
    assert (stats.requested, stats.unique, stats.encoded) == (len(texts), len(unique), len(unique))
    assert stats.batches == -(-len(unique) // 4)


def test_dedupe_cache_and_progress(tmp_path, tiny_st_model):
    class Record:
        def __init__(self):
            self.events = []

        def task(self, label, total):
            from contextlib import contextmanager

            @contextmanager
            def run():
                self.events.append((label, total))
                yield lambda n: self.events.append(n)

            return run()

    texts = ["b short", "a much longer text here", "b short", "c"]
    progress = Record()
    first = Encoder(tiny_st_model, batch_size=2, use_cache=True, cache_root=tmp_path, progress=progress)
    vectors, stats = first.encode(texts, "passage", label="encoding texts")
    assert (stats.requested, stats.unique, stats.from_cache, stats.encoded, stats.batches) == (4, 3, 0, 3, 2)
    assert progress.events == [("encoding texts", 3), 2, 1]
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)

    again = Encoder(tiny_st_model, batch_size=2, use_cache=True, cache_root=tmp_path)
    cached, stats = again.encode(texts[::-1], "passage")
    assert (stats.from_cache, stats.encoded, stats.batches) == (3, 0, 0)
    np.testing.assert_array_equal(cached, vectors[::-1])
    # another prompt is another cache
    _, stats = Encoder(tiny_st_model, use_cache=True, cache_root=tmp_path).encode(texts, "query")
    assert stats.from_cache == 0

    empty, stats = first.encode([], "query")
    assert empty.shape == (0, vectors.shape[1]) and stats.requested == 0


@pytest.fixture(scope="module")
def tiny_st_model(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_model_dir), device="cpu")
