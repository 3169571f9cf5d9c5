"""Encode corpora into resumable shards on disk; the texts themselves go through the one encoder.

Memory during :func:`encode_corpus` is one chunk of texts and embeddings (``chunk_size`` rows) plus 8 bytes
per passage for the duplicate-id check, whatever the corpus size: passages are streamed from an iterator,
embeddings stream to the shard files (see :mod:`langmix.retrieval.shards`). Prompts, batching, precision and
the model call are :class:`langmix.models.encoder.Encoder`'s.

Finished work is reused only when it is the same work: the manifest records the model's identity
(:func:`~langmix.models.cache.model_fingerprint`: weights, tokenizer, modules, prompts, max length), the
precision, prompt, normalisation, dtype and shard size, and every shard the hash of the passages it holds. A
rerun re-reads the corpus (no model runs for finished shards) and refuses, naming the passages, when their
ids or texts changed since; a corpus edited in place is never served its old embeddings.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from langmix.data.beir import Passage
from langmix.errors import DataError
from langmix.models.cache import fingerprint_or_none
from langmix.models.encoder import ENCODE_BATCH_SIZE, EncodingModel
from langmix.models.encoder import Encoder as TextEncoder
from langmix.models.precision import DEFAULT_PRECISION
from langmix.progress import SILENT, ProgressSink, absolute
from langmix.retrieval.shards import (
    DEFAULT_SHARD_SIZE,
    ContentDigest,
    DuplicateIdChecker,
    ShardedEmbeddings,
    ShardWriter,
)

CHANGED = "the corpus changed since the shards were written (use --overwrite to start again)"


def encode_queries(
    model: EncodingModel,
    texts: Sequence[str],
    *,
    prompt: str | None = None,
    batch_size: int = ENCODE_BATCH_SIZE,
    normalize: bool = True,
    precision: str = DEFAULT_PRECISION,
) -> np.ndarray:
    """Query embeddings, with the model's query prompt unless ``prompt`` overrides it."""
    encoder = TextEncoder(
        model, batch_size=batch_size, prompts={"query": prompt}, normalize=normalize, precision=precision
    )
    return encoder.encode_direct(texts, "query")


def precision_meta(precision: str) -> dict[str, str]:
    """The manifest facts of a resolved precision: none at fp32, so folders written before precision was
    recorded stay resumable and their indexes reusable; ``{"precision": "bf16"}`` otherwise, so a resumed
    encoding never mixes precisions."""
    return {} if precision == "fp32" else {"precision": precision}


@dataclass
class EncodeResult:
    folder: Path
    n_total: int
    n_resumed: int  # passages found already encoded (finished shards kept)
    n_encoded: int  # passages encoded by this call
    n_shards: int
    seconds: float

    @property
    def embeddings(self) -> ShardedEmbeddings:
        return ShardedEmbeddings(self.folder)


def _as_pairs(passages: Iterable[Passage | tuple[str, str]]) -> Iterator[tuple[str, str]]:
    for p in passages:
        if isinstance(p, Passage):
            yield p.id, p.contents
        else:
            yield p


def _skip_finished(
    pairs: Iterator[tuple[str, str]],
    embeddings: ShardedEmbeddings,
    checker: DuplicateIdChecker,
    source: str,
    report: Callable[[int], None],
) -> None:
    """Consume the already-encoded prefix of the corpus, checking that it is, passage by passage, the one the
    shards were made from: the same ids (named when they differ) and the same texts (by content hash).
    ``report`` gets the passages checked so far (a rerun over a large corpus takes a while)."""
    position = 0
    for info in embeddings.shards:
        ids = embeddings.shard_ids(info)
        content = ContentDigest()
        for expected in ids:
            got = next(pairs, None)
            if got is None:
                raise DataError(
                    source,
                    f"the corpus ends at passage {position} but the existing shards hold "
                    f"{len(embeddings)} passages; {CHANGED}",
                )
            if got[0] != expected:
                raise DataError(
                    source,
                    f"passage {position + 1} is {got[0]!r} but shard {info.stem} holds {expected!r} there: "
                    f"{CHANGED}",
                )
            content.update(got[:1], got[1:])
            position += 1
        if content.hexdigest() != info.content:
            first = position - info.n + 1
            raise DataError(
                source,
                f"the text of a passage among {first}-{position} (shard {info.stem}, ids {info.first_id!r}"
                f" to {info.last_id!r}) is not the one encoded there: {CHANGED}",
            )
        checker.add_finished(ids)
        report(position)


def _check_complete(
    pairs: Iterator[tuple[str, str]],
    embeddings: ShardedEmbeddings,
    checker: DuplicateIdChecker,
    source: str,
    report: Callable[[int], None],
) -> None:
    """A complete folder is reused only for exactly its corpus: every passage the same, none added."""
    _skip_finished(pairs, embeddings, checker, source, report)
    extra = next(pairs, None)
    if extra is not None:
        raise DataError(
            source,
            f"passage {len(embeddings) + 1} ({extra[0]!r}) is not in the finished embeddings, which hold "
            f"{len(embeddings)} passages: {CHANGED}",
        )


def encode_corpus(
    model: EncodingModel,
    passages: Iterable[Passage | tuple[str, str]],
    out_dir: str | Path,
    *,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch_size: int = ENCODE_BATCH_SIZE,
    chunk_size: int | None = None,
    dtype: str = "float16",
    prompt: str | None = None,
    normalize: bool = True,
    devices: Sequence[str] | None = None,
    pool: dict | None = None,
    meta: dict[str, Any] | None = None,
    overwrite: bool = False,
    source: str = "corpus",
    progress: ProgressSink = SILENT,
    total: int | None = None,
    label: str = "encode",
    precision: str = DEFAULT_PRECISION,
) -> EncodeResult:
    """Encode a stream of passages into an embeddings folder, resuming after the last finished shard.

    Args:
        model: a SentenceTransformer (or anything with its ``encode``); passages get its passage prompt
            (:func:`~langmix.models.encoder.resolve_prompt`) unless ``prompt`` is given (``""`` for none).
        passages: :class:`Passage` objects (text = title + " " + text) or ``(doc_id, text)`` pairs, in a
            deterministic order: a resumed run re-reads the corpus and checks the first ids against the
            finished shards.
        out_dir: the embeddings folder (see :mod:`langmix.retrieval.shards`).
        shard_size: rows per shard; a shard is the unit of resumption.
        chunk_size: texts sent to the model at once (default ``16 * batch_size``, times the number of
            workers with a pool); the memory bound.
        dtype: ``"float16"`` (default) or ``"float32"`` on disk.
        devices: e.g. ``["cpu", "cpu"]`` or ``["cuda:0", "cuda:1"]``: encode with sentence-transformers'
            multi-process pool (started and stopped here); ``pool``: an already started pool.
        meta: extra facts recorded in the manifest (model name, ...). Resuming with other facts is refused.
            The model's identity is recorded as ``fingerprint``
            (:func:`~langmix.models.cache.model_fingerprint`) unless ``meta`` already holds it.
        progress: a task ``label`` advanced by passages done (finished shards, checked against the corpus,
            included) out of ``total`` (the corpus size, when known).
        precision: ``auto`` | ``fp32`` | ``bf16`` | ``fp16`` (:mod:`langmix.models.precision`); the resolved
            one other than fp32 is recorded in the manifest (:func:`precision_meta`).

    Returns:
        :class:`EncodeResult` (the folder's :class:`ShardedEmbeddings` via ``.embeddings``).

    Example::

        from langmix.data.beir import iter_corpus
        encode_corpus(model, iter_corpus("corpus.jsonl"), "emb/", meta={"model": "embedded"})
    """
    start_time = time.perf_counter()
    encoder = TextEncoder(
        model, batch_size=batch_size, prompts={"passage": prompt}, normalize=normalize, precision=precision
    )
    manifest_meta = {
        "prompt": encoder.prompt("passage"),
        "normalize": normalize,
        **precision_meta(encoder.precision),
        **(meta or {}),
    }
    if "fingerprint" not in manifest_meta and (fingerprint := fingerprint_or_none(model)) is not None:
        manifest_meta["fingerprint"] = fingerprint
    with ShardWriter(
        out_dir, dim=encoder.dim, dtype=dtype, shard_size=shard_size, meta=manifest_meta, overwrite=overwrite
    ) as writer:
        n_resumed = writer.n_done
        with progress.task(label, total) as advance:
            report = absolute(advance)
            pairs = _as_pairs(passages)
            checker = DuplicateIdChecker(writer.folder, source)
            if writer.complete:
                _check_complete(pairs, ShardedEmbeddings(writer.folder), checker, source, report)
                return EncodeResult(writer.folder, n_resumed, n_resumed, 0, len(writer.shards), 0.0)
            if writer.shards:
                _skip_finished(pairs, ShardedEmbeddings(writer.folder), checker, source, report)
            with encoder.multi_process(devices, pool) as active_pool:
                _encode_stream(encoder, pairs, writer, checker, active_pool, chunk_size, report)
        if writer.n_done == 0:
            raise DataError(source, "no passages to encode")
        writer.finish()
    return EncodeResult(
        writer.folder,
        writer.n_done,
        n_resumed,
        writer.n_done - n_resumed,
        len(writer.shards),
        time.perf_counter() - start_time,
    )


def _encode_stream(
    encoder: TextEncoder,
    pairs: Iterator[tuple[str, str]],
    writer: ShardWriter,
    checker: DuplicateIdChecker,
    pool: dict | None,
    chunk_size: int | None,
    report: Callable[[int], None],
) -> None:
    """Encode the rest of ``pairs`` chunk by chunk into shards; an unfinished shard is dropped on error."""
    n_workers = len(pool["processes"]) if pool is not None else 1
    chunk = chunk_size or 16 * encoder.batch_size * n_workers
    worker_chunk = max(1, min(chunk // n_workers, 4 * encoder.batch_size)) if pool is not None else None
    done = writer.n_done
    shard = None
    try:
        while True:
            if shard is None:
                shard = writer.open_shard()
            batch = list(itertools.islice(pairs, min(chunk, writer.shard_size - shard.n)))
            if batch:
                ids = [doc_id for doc_id, _ in batch]
                checker.check(ids, shard, done)
                texts = [text for _, text in batch]
                vectors = encoder.encode_direct(texts, "passage", pool=pool, chunk_size=worker_chunk)
                shard.append(ids, vectors, texts)
                done += len(batch)
                report(done)
            if shard.n and (shard.n == writer.shard_size or not batch):
                writer.commit(shard)
                checker.end_shard()
                shard = None
            if not batch:
                break
    finally:
        if shard is not None:
            shard.abort()  # an unfinished shard is redone on resume
