"""faiss indexes against brute-force numpy, save/load, and the search API (hits with texts, run files)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from langmix.data.beir import Passage, load_corpus
from langmix.data.runfiles import read_trec_run, results_to_run, write_results
from langmix.errors import LangmixError
from langmix.retrieval.encode import encode_corpus
from langmix.retrieval.index import IndexConfig, SearchIndex, build_index
from langmix.retrieval.search import JsonlDocStore, Searcher, open_docstore
from langmix.retrieval.shards import ShardWriter


def clustered(n: int, dim: int, rng, centers: int = 20) -> np.ndarray:
    means = rng.standard_normal((centers, dim)).astype(np.float32) * 3
    x = means[rng.integers(0, centers, n)] + rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(corpus: np.ndarray, queries: np.ndarray, k: int):
    scores = queries.astype(np.float64) @ corpus.astype(np.float64).T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, top, axis=1), top


def write_shards(folder, x: np.ndarray, shard_size: int, dtype: str = "float16"):
    with ShardWriter(folder, dim=x.shape[1], dtype=dtype, shard_size=shard_size) as writer:
        for start in range(0, len(x), shard_size):
            shard = writer.open_shard()
            block = x[start : start + shard_size]
            ids = [f"doc{i}" for i in range(start, start + len(block))]
            shard.append(ids, block, [f"text of {i}" for i in ids])
            writer.commit(shard)
        writer.finish()
    from langmix.retrieval.shards import ShardedEmbeddings

    return ShardedEmbeddings(folder)


def test_exact_search_equals_numpy(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = rng.standard_normal((50, 32)).astype(np.float32)
    emb = write_shards(tmp_path / "emb", x, shard_size=700)
    index = build_index(emb)  # flat: exact inner product
    scores, positions = index.search(q, 100)
    stored = emb.load()  # float16 values, as indexed
    ref_scores, ref_positions = brute_force(stored, q, 100)
    np.testing.assert_array_equal(positions, ref_positions)
    np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-5)
    assert index.doc_id(int(positions[0, 0])) == f"doc{ref_positions[0, 0]}"
    # k larger than the corpus returns the whole corpus
    small = build_index(x[:7], ids=list("abcdefg"))
    s, p = small.search(q[:2], 50)
    assert p.shape == (2, 7) and sorted(p[0].tolist()) == list(range(7))


@pytest.mark.parametrize(
    ("config", "min_recall"),
    [
        (IndexConfig(kind="ivf", nlist=32, nprobe=8), 0.9),
        (IndexConfig(kind="hnsw", m=16, ef_search=64), 0.95),
    ],
)
def test_approximate_indexes_recall(tmp_path, config, min_recall):
    rng = np.random.default_rng(1)
    data = clustered(5100, 32, rng)  # queries from the same mixture as the corpus
    x, q = data[:5000], data[5000:]
    exact = build_index(x)
    _, truth = exact.search(q, 10)
    approx = build_index(x, config)
    _, got = approx.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got.tolist(), truth.tolist(), strict=True)])
    assert recall >= min_recall
    if config.kind == "ivf":  # probing every cell is exhaustive
        _, full = approx.search(q, 10, nprobe=32)
        assert (full == truth).all()
        assert approx.info["config"]["nlist"] == 32


def test_save_and_load(tmp_path):
    rng = np.random.default_rng(2)
    x = clustered(500, 16, rng)
    ids = [f"{i}#ü" for i in range(500)]  # UTF-8 ids survive the fixed-width id array
    for kind in ("flat", "ivf", "hnsw"):
        index = build_index(x, IndexConfig(kind=kind, nlist=8), ids=ids)
        index.save(tmp_path / kind)
        loaded = SearchIndex.load(tmp_path / kind)
        assert loaded.kind == kind and len(loaded) == 500
        a = index.search(x[:5], 10)
        b = loaded.search(x[:5], 10)
        np.testing.assert_array_equal(a[1], b[1])
        assert loaded.doc_id(int(b[1][0, 0])) == ids[int(a[1][0, 0])]
    with pytest.raises(LangmixError, match="no index.json"):
        SearchIndex.load(tmp_path)
    with pytest.raises(LangmixError, match="unknown index kind"):
        IndexConfig(kind="lsh")


def test_incomplete_embeddings_are_refused(tmp_path):
    with ShardWriter(tmp_path / "emb", dim=4, shard_size=2) as writer:
        shard = writer.open_shard()
        shard.append(["a", "b"], np.eye(2, 4, dtype=np.float32), ["text a", "text b"])
        writer.commit(shard)
    from langmix.retrieval.shards import ShardedEmbeddings

    with pytest.raises(LangmixError, match="encoding is not finished"):
        build_index(ShardedEmbeddings(tmp_path / "emb"))
    assert len(build_index(ShardedEmbeddings(tmp_path / "emb"), allow_incomplete=True)) == 2


@pytest.fixture
def small_corpus(tmp_path):
    rows = [
        {"_id": "nairobi", "title": "Nairobi", "text": "Nairobi is the capital of Kenya."},
        {"_id": "berlin", "title": "Berlin", "text": "Berlin is the capital of Germany."},
        {"_id": "jazz", "title": "Jazz", "text": "Jazz is a music genre from New Orleans."},
        {"_id": "nile", "title": "", "text": "The Nile is a river in Africa."},
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_searcher_returns_ids_scores_and_texts(tmp_path, small_corpus, tiny_st):
    corpus = load_corpus(small_corpus)
    result = encode_corpus(tiny_st, corpus, tmp_path / "emb", prompt="", dtype="float32")
    index = build_index(result.embeddings)
    searcher = Searcher(index, tiny_st, docs=JsonlDocStore(small_corpus), query_prompt="")
    # with no prompts on either side, a passage's own text is its nearest neighbour
    hits = searcher.search("Jazz Jazz is a music genre from New Orleans.", k=3)
    assert hits[0].doc_id == "jazz" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].text == "Jazz Jazz is a music genre from New Orleans."
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    results = searcher.search_many({"q1": corpus.contents(3), "q2": corpus.contents(0)}, k=2)
    assert results["q1"][0].doc_id == "nile" and results["q2"][0].doc_id == "nairobi"
    write_results(tmp_path / "run.trec", results, "trec", tag="t")
    assert read_trec_run(tmp_path / "run.trec") == results_to_run(results)
    write_results(tmp_path / "run.json", results, "json")
    doc = json.loads((tmp_path / "run.json").read_text())
    assert doc["q1"][0]["doc_id"] == "nile" and doc["q1"][0]["rank"] == 1 and "text" in doc["q1"][0]
    assert open_docstore(small_corpus).get("nile") == "The Nile is a river in Africa."
    assert Searcher(index).search_embeddings(np.zeros((1, index.dim), dtype=np.float32), 2)[0][0].text is None
    with pytest.raises(LangmixError, match="no model"):
        Searcher(index).search("hi")
    with pytest.raises(LangmixError, match="empty query"):
        searcher.search("  ")


def test_model_dimension_mismatch(tmp_path, fake_encoder, tiny_st):
    result = encode_corpus(fake_encoder, [Passage("a", "x"), Passage("b", "y")], tmp_path / "emb")
    with pytest.raises(LangmixError, match="16-dim"):
        Searcher(build_index(result.embeddings), tiny_st).search("x")
