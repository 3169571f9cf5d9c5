"""Encoded corpora and indexes: identity before reuse, whole folders, damaged files found and rebuilt.

- Embeddings are reused only for the same passages (by content, not by path) encoded by the same model.
- A finished shard that is missing, empty or truncated is reported and encoded again; reading one is one
  error naming it.
- An index folder is replaced as a whole; one that is damaged or mixes two builds is refused on load.
- An evaluation reuses an index only when it was built from exactly these embeddings.
"""

from __future__ import annotations

import copy
import json
import logging
import os

import numpy as np
import pytest

from langmix.data.beir import Passage
from langmix.errors import DataError, LangmixError
from langmix.evaluation.retrieval import RetrievalSettings, prepare_index
from langmix.models.cache import model_fingerprint
from langmix.retrieval.encode import encode_corpus
from langmix.retrieval.index import SearchIndex, build_index
from langmix.retrieval.shards import ShardedEmbeddings

FP32 = {"precision": "fp32"}


def corpus(n: int = 30, edit: int | None = None) -> list[Passage]:
    """``n`` passages; ``edit``: that passage's text changed, its id kept (a corpus corrected in place)."""
    rows = [Passage(f"doc{i}", f"passage {i} about the topic {i % 7}", title=f"title {i}") for i in range(n)]
    if edit is not None:
        rows[edit] = Passage(rows[edit].id, "a corrected text", title=rows[edit].title)
    return rows


def encode(model, passages, folder, **kwargs):
    return encode_corpus(model, passages, folder, shard_size=10, chunk_size=5, **FP32, **kwargs)


def shard_files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("shard-")}


# -- identity ---------------------------------------------------------------------------------------------
def test_changed_corpus_text_is_never_served_old_embeddings(tmp_path, fake_encoder):
    folder = tmp_path / "emb"
    encode(fake_encoder, corpus(), folder)
    with pytest.raises(DataError, match=r"among 11-20 \(shard shard-00001, ids 'doc10' to 'doc19'\)"):
        encode(fake_encoder, corpus(edit=13), folder)
    with pytest.raises(DataError, match=r"passage 31 \('doc30'\) is not in the finished embeddings"):
        encode(fake_encoder, corpus(31), folder)
    fresh = encode(fake_encoder, corpus(edit=13), folder, overwrite=True)
    assert fresh.n_encoded == 30
    np.testing.assert_array_equal(
        ShardedEmbeddings(folder).load(),
        encode(fake_encoder, corpus(edit=13), tmp_path / "direct").embeddings.load(),
    )


def test_changed_text_in_a_finished_shard_stops_a_resumption(tmp_path, fake_encoder):
    folder = tmp_path / "emb"
    encode(fake_encoder, corpus()[:25], folder)  # as if interrupted: shards 0-1 finished, 2 partial ...
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(complete=False, shards=manifest["shards"][:2], n=20)  # ... and never completed
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="among 1-10 .* is not the one encoded there"):
        encode(fake_encoder, corpus(edit=2), folder)


def test_same_corpus_elsewhere_is_reused(tmp_path, fake_encoder):
    """The corpus path is recorded but is not the identity: the same passages from a moved file resume."""
    folder = tmp_path / "emb"
    encode(fake_encoder, corpus(), folder, meta={"corpus": "/data/old/corpus.jsonl"})
    again = encode(fake_encoder, corpus(), folder, meta={"corpus": "/data/new/corpus.jsonl"})
    assert again.n_encoded == 0 and again.n_total == 30


def test_model_identity_is_recorded_and_checked(tmp_path, tiny_st):
    folder = tmp_path / "emb"
    result = encode(tiny_st, corpus(12), folder)
    assert result.embeddings.meta["fingerprint"] == model_fingerprint(tiny_st)
    cls_model = copy.deepcopy(tiny_st)
    cls_model[1].pooling_mode = "cls"  # the same weights, another model
    with pytest.raises(LangmixError, match="meta.fingerprint"):
        encode(cls_model, corpus(12), folder)


def test_folder_without_content_hashes_is_refused(tmp_path, fake_encoder):
    folder = tmp_path / "emb"
    encode(fake_encoder, corpus(), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for shard in manifest["shards"]:
        del shard["content"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(LangmixError, match="cannot be checked against the corpus; use --overwrite"):
        encode(fake_encoder, corpus(), folder)


# -- damaged shards ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["empty npy", "truncated npy", "missing ids", "cut ids"])
def test_damaged_shard_is_reported_and_encoded_again(tmp_path, fake_encoder, caplog, damage):
    encode(fake_encoder, corpus(), tmp_path / "whole")
    folder = tmp_path / "emb"
    encode(fake_encoder, corpus(), folder)
    npy, ids = folder / "shard-00001.npy", folder / "shard-00001.ids"
    if damage == "empty npy":
        npy.write_bytes(b"")
    elif damage == "truncated npy":
        os.truncate(npy, npy.stat().st_size - 7)
    elif damage == "missing ids":
        ids.unlink()
    else:
        os.truncate(ids, 5)

    with pytest.raises(DataError, match="shard shard-00001 is damaged: .*run `langmix encode` again"):
        ShardedEmbeddings(folder).load()
    with caplog.at_level(logging.WARNING, logger="langmix.retrieval.shards"):
        result = encode(fake_encoder, corpus(), folder)
    assert (result.n_resumed, result.n_encoded) == (10, 20)  # shard 0 kept, 1 and 2 redone
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "shard-00001 is damaged" in warning and "encoding again from passage 11" in warning
    assert shard_files(folder) == shard_files(tmp_path / "whole")


def test_damaged_shard_stops_indexing_with_one_error(tmp_path, fake_encoder):
    folder = tmp_path / "emb"
    encode(fake_encoder, corpus(), folder)
    os.truncate(folder / "shard-00002.npy", 100)
    with pytest.raises(DataError, match="shard-00002 is damaged: shard-00002.npy is 100 bytes"):
        build_index(ShardedEmbeddings(folder))


# -- index folders ----------------------------------------------------------------------------------------
def _index(seed: int, prefix: str = "doc") -> SearchIndex:
    vectors = np.random.default_rng(seed).standard_normal((40, 8)).astype(np.float32)
    return build_index(vectors, ids=[f"{prefix}{i:02d}" for i in range(40)])


def _hits(index: SearchIndex) -> list[list[str]]:
    queries = np.random.default_rng(99).standard_normal((5, 8)).astype(np.float32)
    _, positions = index.search(queries, 5)
    return [[index.doc_id(p) for p in row] for row in positions]


def test_torn_or_damaged_index_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _index(1).save(a)
    _index(2, prefix="dod").save(b)
    assert _hits(SearchIndex.load(a)) == _hits(_index(1))
    (a / "ids.npy").write_bytes((b / "ids.npy").read_bytes())  # same size, another build's ids
    with pytest.raises(DataError, match=r"ids.npy: its sha256 is not the one index.json records"):
        SearchIndex.load(a)
    os.truncate(b / "index.faiss", 50)
    with pytest.raises(DataError, match=r"index.faiss: 50 bytes, index.json says \d+: damaged"):
        SearchIndex.load(b)
    info = json.loads((b / "index.json").read_text())
    del info["files"]  # as written before indexes listed their files
    (b / "index.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="without file checksums"):
        SearchIndex.load(b)


def test_failed_save_leaves_the_old_index_whole(tmp_path, monkeypatch):
    folder = tmp_path / "idx"
    _index(1).save(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", fail)  # dies after index.faiss was written
    with pytest.raises(OSError, match="No space left"):
        _index(2).save(folder)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert _hits(SearchIndex.load(folder)) == _hits(_index(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".idx.lock", "idx"]  # no temporaries left
    _index(2).save(folder)  # and a successful save replaces it as a whole
    assert _hits(SearchIndex.load(folder)) == _hits(_index(2))


def test_evaluation_rebuilds_an_index_of_other_embeddings(tmp_path, fake_encoder):
    """Embeddings re-encoded from a corrected corpus (same ids, same count) get a new index, not the old."""
    settings = RetrievalSettings(k=5, metrics=("nDCG@5",), shard_size=10, **FP32)

    def build(passages):
        return prepare_index(fake_encoder, lambda: passages, tmp_path / "work", settings, model_name="fake")

    first = build(corpus())
    emb = ShardedEmbeddings(tmp_path / "work" / "embeddings")
    encode_corpus(
        fake_encoder, corpus(edit=4), emb.folder, shard_size=10, meta=emb.meta, overwrite=True, **FP32
    )
    second = build(corpus(edit=4))
    rebuilt = second.index.reconstruct_n(0, len(second))
    np.testing.assert_array_equal(rebuilt, ShardedEmbeddings(emb.folder).load())
    assert not np.array_equal(rebuilt, first.index.reconstruct_n(0, len(first)))
    assert build(corpus(edit=4)).info["embeddings_identity"] == second.info["embeddings_identity"]


def test_index_is_never_saved_over_other_files(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    with pytest.raises(LangmixError, match=r"holds files that are not part of an index \(notes.txt\)"):
        _index(1).save(folder)
    assert (folder / "notes.txt").read_text() == "my notes"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to name synced descriptors")
def test_index_files_and_folders_are_synced(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    _index(1).save(tmp_path / "idx")
    assert {"index.faiss", "ids.npy", "index.json", tmp_path.name} <= set(synced)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "idx" / "index.json").stat().st_mode & 0o777 == 0o666 & ~umask  # not 0600


def test_cli_reports_an_empty_shard_instead_of_aborting(tmp_path, fake_encoder):
    """An empty .npy used to end `langmix index` in a bare `Aborted.` (numpy's EOFError)."""
    from tests.helpers import invoke

    folder = tmp_path / "emb"
    encode(fake_encoder, corpus(), folder)
    (folder / "shard-00001.npy").write_bytes(b"")
    with pytest.raises(DataError, match="shard shard-00001 is damaged: shard-00001.npy is 0 bytes"):
        invoke("index", folder, "--out", tmp_path / "idx")
