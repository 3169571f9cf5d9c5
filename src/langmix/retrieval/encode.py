"""Encode queries and corpora with a sentence-transformers model; corpora go to resumable shards on disk.

Memory during :func:`encode_corpus` is one chunk of texts and embeddings (``chunk_size`` rows) plus 8 bytes
per passage for the duplicate-id check, whatever the corpus size: passages are streamed from an iterator,
embeddings stream to the shard files (see :mod:`langmix.retrieval.shards`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from langmix.data.beir import Passage
from langmix.errors import DataError, LangmixError
from langmix.retrieval.shards import DEFAULT_SHARD_SIZE, DuplicateIdChecker, ShardedEmbeddings, ShardWriter

PASSAGE_PROMPT_KEYS = ("passage", "document", "doc", "corpus")
QUERY_PROMPT_KEYS = ("query",)


class Encoder(Protocol):
    """What the encoder needs from a model: sentence-transformers' ``encode`` (a fake one works in tests)."""

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray: ...


def embedding_dim(model: Any) -> int:
    for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        fn = getattr(model, name, None)
        if fn is not None and (dim := fn()) is not None:
            return int(dim)
    dim = getattr(model, "dim", None)
    if dim is None:
        raise LangmixError("cannot tell the embedding dimension of this model")
    return int(dim)


def resolve_prompt(model: Any, kind: str, prompt: str | None = None) -> str:
    """The prefix for ``kind`` ("query" or "passage"): ``prompt`` when given (``""`` = none), otherwise the
    model's own prompt of that kind (E5: ``"query: "`` / ``"passage: "``), otherwise none."""
    if prompt is not None:
        return prompt
    if kind not in ("query", "passage"):
        raise LangmixError(f"unknown text kind {kind!r}; use 'query' or 'passage'")
    prompts = getattr(model, "prompts", None) or {}
    for key in QUERY_PROMPT_KEYS if kind == "query" else PASSAGE_PROMPT_KEYS:
        if key in prompts:
            return prompts[key]
    return ""


def encode_texts(
    model: Encoder,
    texts: Sequence[str],
    *,
    prompt: str = "",
    batch_size: int = 64,
    normalize: bool = True,
    pool: dict | None = None,
    chunk_size: int | None = None,
) -> np.ndarray:
    """float32 ``(len(texts), dim)`` embeddings, L2-normalised unless ``normalize`` is false."""
    if not len(texts):
        return np.empty((0, embedding_dim(model)), dtype=np.float32)
    kwargs: dict[str, Any] = {
        "prompt": prompt,
        "batch_size": batch_size,
        "normalize_embeddings": normalize,
        "convert_to_numpy": True,
        "show_progress_bar": False,
    }
    if pool is not None:
        kwargs["pool"] = pool
        kwargs["chunk_size"] = chunk_size
    emb = model.encode(list(texts), **kwargs)
    return np.asarray(emb, dtype=np.float32)


def encode_queries(
    model: Encoder,
    texts: Sequence[str],
    *,
    prompt: str | None = None,
    batch_size: int = 64,
    normalize: bool = True,
) -> np.ndarray:
    """Query embeddings, with the model's query prompt unless ``prompt`` overrides it."""
    return encode_texts(
        model,
        texts,
        prompt=resolve_prompt(model, "query", prompt),
        batch_size=batch_size,
        normalize=normalize,
    )


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
    pairs: Iterator[tuple[str, str]], embeddings: ShardedEmbeddings, checker: DuplicateIdChecker, source: str
) -> None:
    """Consume the already-encoded prefix of the corpus, checking it is the one the shards hold."""
    position = 0
    for info in embeddings.shards:
        ids = embeddings.shard_ids(info)
        for expected in ids:
            got = next(pairs, None)
            if got is None:
                raise DataError(
                    source,
                    f"the corpus ends at passage {position} but the existing shards hold "
                    f"{len(embeddings)} passages; it changed since they were written "
                    "(use --overwrite to start again)",
                )
            if got[0] != expected:
                raise DataError(
                    source,
                    f"passage {position + 1} is {got[0]!r} but shard {info.stem} holds "
                    f"{expected!r} there: the corpus changed since the shards were written "
                    "(use --overwrite to start again)",
                )
            position += 1
        checker.add_finished(ids)


def encode_corpus(
    model: Encoder,
    passages: Iterable[Passage | tuple[str, str]],
    out_dir: str | Path,
    *,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch_size: int = 64,
    chunk_size: int | None = None,
    dtype: str = "float16",
    prompt: str | None = None,
    normalize: bool = True,
    devices: Sequence[str] | None = None,
    pool: dict | None = None,
    meta: dict[str, Any] | None = None,
    overwrite: bool = False,
    source: str = "corpus",
    on_progress: Callable[[int], None] | None = None,
) -> EncodeResult:
    """Encode a stream of passages into an embeddings folder, resuming after the last finished shard.

    Args:
        model: a SentenceTransformer (or anything with its ``encode``); passages get its passage prompt
            unless ``prompt`` is given (``""`` for none).
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
        on_progress: called with the number of passages done so far (finished shards included).

    Returns:
        :class:`EncodeResult` (the folder's :class:`ShardedEmbeddings` via ``.embeddings``).

    Example::

        from langmix.data.beir import iter_corpus
        encode_corpus(model, iter_corpus("corpus.jsonl"), "emb/", meta={"model": "embedded"})
    """
    start_time = time.perf_counter()
    passage_prompt = resolve_prompt(model, "passage", prompt)
    manifest_meta = {"prompt": passage_prompt, "normalize": normalize, **(meta or {})}
    writer = ShardWriter(
        out_dir,
        dim=embedding_dim(model),
        dtype=dtype,
        shard_size=shard_size,
        meta=manifest_meta,
        overwrite=overwrite,
    )
    n_resumed = writer.n_done
    if writer.complete:
        if on_progress:
            on_progress(n_resumed)
        return EncodeResult(writer.folder, n_resumed, n_resumed, 0, len(writer.shards), 0.0)

    pairs = _as_pairs(passages)
    checker = DuplicateIdChecker(writer.folder, source)
    if writer.shards:
        _skip_finished(pairs, ShardedEmbeddings(writer.folder), checker, source)
    if on_progress:
        on_progress(n_resumed)

    own_pool = None
    if pool is None and devices:
        if not hasattr(model, "start_multi_process_pool"):
            raise LangmixError("multi-device encoding needs a sentence-transformers model")
        own_pool = pool = model.start_multi_process_pool(list(devices))
    n_workers = len(pool["processes"]) if pool is not None else 1
    chunk = chunk_size or 16 * batch_size * n_workers
    worker_chunk = max(1, min(chunk // n_workers, 4 * batch_size)) if pool is not None else None

    done = n_resumed
    shard = None
    try:
        while True:
            if shard is None:
                shard = writer.open_shard()
            take = min(chunk, writer.shard_size - shard.n)
            batch = list(itertools.islice(pairs, take))
            if batch:
                ids = [doc_id for doc_id, _ in batch]
                checker.check(ids, shard, done)
                emb = encode_texts(
                    model,
                    [text for _, text in batch],
                    prompt=passage_prompt,
                    batch_size=batch_size,
                    normalize=normalize,
                    pool=pool,
                    chunk_size=worker_chunk,
                )
                shard.append(ids, emb)
                done += len(batch)
                if on_progress:
                    on_progress(done)
            if shard.n and (shard.n == writer.shard_size or not batch):
                writer.commit(shard)
                checker.end_shard()
                shard = None
            if not batch:
                break
    finally:
        if shard is not None:
            shard.abort()  # an unfinished shard is redone on resume
        if own_pool is not None:
            model.stop_multi_process_pool(own_pool)
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
