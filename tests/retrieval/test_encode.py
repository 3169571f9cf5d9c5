"""Sharded encoding: file format, resumption after an interruption, duplicate ids, refused resumptions."""

from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import pytest

from langmix.data.beir import Passage
from langmix.errors import DataError, LangmixError
from langmix.models.encoder import resolve_prompt
from langmix.retrieval.encode import encode_corpus, encode_queries
from langmix.retrieval.shards import ShardedEmbeddings, ShardWriter


def passages(n: int, start: int = 0) -> list[Passage]:
    words = ["river", "mountain", "capital", "language", "music", "history", "city", "science", "island"]
    return [
        Passage(
            f"{i // 3}#{i % 3}", f"{words[i % 9]} {words[(i * 7) % 9]} number {i}", title=f"title {i // 3}"
        )
        for i in range(start, start + n)
    ]


class Interrupted(RuntimeError):
    pass


def interrupt_after(items, n):
    for i, item in enumerate(items):
        if i == n:
            raise Interrupted
        yield item


class RunningTotals:
    """A progress sink that appends the running total after each advance to ``done``."""

    def __init__(self, done: list[int]):
        self.done = done

    @contextmanager
    def task(self, label, total):
        count = 0

        def advance(n):
            nonlocal count
            count += n
            self.done.append(count)

        yield advance


def shard_files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("shard-")}


def test_shard_format(tmp_path, fake_encoder):
    result = encode_corpus(
        fake_encoder, passages(25), tmp_path / "emb", shard_size=10, batch_size=4, chunk_size=4
    )
    assert (result.n_total, result.n_shards, result.n_resumed) == (25, 3, 0)
    emb = ShardedEmbeddings(tmp_path / "emb")
    assert emb.complete and len(emb) == 25 and emb.dim == 16 and emb.dtype == "float16"
    assert [s.n for s in emb.shards] == [10, 10, 5]
    last = np.load(tmp_path / "emb" / "shard-00002.npy")  # a plain .npy, header rewritten to 5 rows
    assert last.shape == (5, 16) and last.dtype == np.float16
    assert (tmp_path / "emb" / "shard-00002.ids").read_text().splitlines() == [
        p.id for p in passages(25)[20:]
    ]
    # row i is passage i's text with the passage prompt, normalised
    texts = [p.contents for p in passages(25)]
    expected = fake_encoder.encode(texts, prompt="passage: ", normalize_embeddings=True)
    np.testing.assert_allclose(emb.load(), expected, atol=1e-3)
    np.testing.assert_array_equal(emb.rows(np.array([24, 0, 13])), emb.load()[[24, 0, 13]])
    manifest = json.loads((tmp_path / "emb" / "manifest.json").read_text())
    assert manifest["meta"]["prompt"] == "passage: " and manifest["n"] == 25
    assert not [p for p in (tmp_path / "emb").iterdir() if p.name.endswith(".tmp")]


def test_resumed_encoding_equals_uninterrupted(tmp_path, tiny_st):
    corpus = passages(70)
    kwargs = {"shard_size": 16, "batch_size": 8, "chunk_size": 8, "meta": {"model": "tiny"}}
    full = encode_corpus(tiny_st, corpus, tmp_path / "full", **kwargs)
    assert full.n_shards == 5

    with pytest.raises(Interrupted):  # dies in the middle of the third shard
        encode_corpus(tiny_st, interrupt_after(corpus, 40), tmp_path / "resumed", **kwargs)
    partial = ShardedEmbeddings(tmp_path / "resumed")
    assert not partial.complete and [s.n for s in partial.shards] == [16, 16]
    kept = shard_files(tmp_path / "resumed")
    assert set(kept) == {"shard-00000.npy", "shard-00000.ids", "shard-00001.npy", "shard-00001.ids"}

    done = []
    resumed = encode_corpus(tiny_st, corpus, tmp_path / "resumed", progress=RunningTotals(done), **kwargs)
    assert (resumed.n_resumed, resumed.n_encoded, resumed.n_total) == (32, 38, 70)
    assert done[:2] == [16, 32] and done[-1] == 70  # finished shards count once checked, one at a time
    after = shard_files(tmp_path / "resumed")
    assert all(after[name] == data for name, data in kept.items())  # finished shards untouched
    assert after == shard_files(tmp_path / "full")  # byte-identical to the uninterrupted run
    # a complete folder is not encoded again
    again = encode_corpus(tiny_st, corpus, tmp_path / "resumed", **kwargs)
    assert again.n_encoded == 0 and again.n_total == 70


def test_stale_temporary_files_are_removed(tmp_path, fake_encoder):
    folder = tmp_path / "emb"
    with pytest.raises(Interrupted):
        encode_corpus(fake_encoder, interrupt_after(passages(30), 15), folder, shard_size=10, chunk_size=2)
    (folder / ".shard-00001.npy.tmp").write_bytes(b"half a shard from a killed process")
    (folder / "shard-00007.npy").write_bytes(b"not in the manifest")
    encode_corpus(fake_encoder, passages(30), folder, shard_size=10, chunk_size=2)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["manifest.json"] + [f"shard-0000{i}.{e}" for i in range(3) for e in ("ids", "npy")]


def test_resume_refuses_a_changed_corpus_or_settings(tmp_path, fake_encoder):
    folder = tmp_path / "emb"
    with pytest.raises(Interrupted):
        encode_corpus(fake_encoder, interrupt_after(passages(30), 25), folder, shard_size=10)
    changed = passages(30)
    changed[12] = Passage("other", "text")
    with pytest.raises(DataError, match=r"passage 13 is 'other' but shard shard-00001 holds '4#0'"):
        encode_corpus(fake_encoder, changed, folder, shard_size=10)
    with pytest.raises(DataError, match="the corpus ends at passage 5"):
        encode_corpus(fake_encoder, passages(5), folder, shard_size=10)
    with pytest.raises(LangmixError, match="dtype: 'float16' there, 'float32' now"):
        encode_corpus(fake_encoder, passages(30), folder, shard_size=10, dtype="float32")
    with pytest.raises(LangmixError, match="meta"):
        encode_corpus(fake_encoder, passages(30), folder, shard_size=10, meta={"model": "another"})
    fresh = encode_corpus(fake_encoder, passages(30), folder, shard_size=10, dtype="float32", overwrite=True)
    assert fresh.n_resumed == 0 and ShardedEmbeddings(folder).dtype == "float32"


@pytest.mark.parametrize("position", [3, 14, 29])  # same chunk, same shard, a later shard
def test_duplicate_doc_ids_are_refused(tmp_path, fake_encoder, position):
    corpus = passages(30)
    corpus[position] = Passage(corpus[1].id, "again")
    with pytest.raises(
        DataError, match=rf"passage {position + 1}: duplicate doc id '0#1' \(first seen as passage 2\)"
    ):
        encode_corpus(fake_encoder, corpus, tmp_path / f"emb{position}", shard_size=10, chunk_size=5)


def test_duplicate_check_survives_resumption(tmp_path, fake_encoder):
    folder = tmp_path / "emb"
    corpus = passages(30)
    corpus[25] = Passage(corpus[2].id, "again")
    with pytest.raises(Interrupted):
        encode_corpus(fake_encoder, interrupt_after(corpus, 22), folder, shard_size=10)
    with pytest.raises(DataError, match="passage 26: duplicate doc id '0#2'"):
        encode_corpus(fake_encoder, corpus, folder, shard_size=10)


def test_prompts_and_pairs(tmp_path, fake_encoder):
    assert resolve_prompt(fake_encoder, "query") == "query: "
    assert resolve_prompt(fake_encoder, "passage", "") == ""
    no_prompts = type(fake_encoder)(prompts={})
    assert resolve_prompt(no_prompts, "passage") == ""
    q = encode_queries(fake_encoder, ["hello"])
    np.testing.assert_allclose(q, fake_encoder.encode(["hello"], prompt="query: ", normalize_embeddings=True))
    encode_corpus(
        fake_encoder, [("a", "text a"), ("b", "text b")], tmp_path / "e", prompt="", dtype="float32"
    )
    np.testing.assert_allclose(
        ShardedEmbeddings(tmp_path / "e").load(),
        fake_encoder.encode(["text a", "text b"], normalize_embeddings=True),
    )
    with pytest.raises(DataError, match="no passages"):
        encode_corpus(fake_encoder, [], tmp_path / "empty")
    with pytest.raises(LangmixError, match="unknown embedding dtype"):
        ShardWriter(tmp_path / "x", dim=4, dtype="int8")


@pytest.mark.slow
def test_multi_process_pool_matches_single_process(tmp_path, tiny_st):
    corpus = passages(40)
    single = encode_corpus(tiny_st, corpus, tmp_path / "single", shard_size=25, dtype="float32")
    pooled = encode_corpus(
        tiny_st, corpus, tmp_path / "pool", shard_size=25, dtype="float32", devices=["cpu", "cpu"]
    )
    assert pooled.n_total == 40
    np.testing.assert_allclose(pooled.embeddings.load(), single.embeddings.load(), atol=1e-5)
    assert pooled.embeddings.ids() == [p.id for p in corpus]
