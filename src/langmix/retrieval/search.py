"""Search an index with a model: queries in, ranked ``(doc id, score, text)`` hits out.

Hits are written as TREC runs or JSON by :mod:`langmix.data.runfiles`; query texts are encoded by the one
encoder (:class:`langmix.models.encoder.Encoder`), with the passages' arithmetic.

Example::

    from langmix.models.loading import load_model
    from langmix.retrieval.search import Searcher, open_docstore

    searcher = Searcher.load("idx/", load_model("embedded"), docs=open_docstore("corpus.jsonl"))
    for hit in searcher.search("who wrote the odyssey?", k=5):
        print(hit.doc_id, round(hit.score, 3), hit.text[:80])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from langmix.data.beir import Queries, corpus_file, load_corpus, passage_from_record
from langmix.errors import DataError, LangmixError
from langmix.models.encoder import ENCODE_BATCH_SIZE, Encoder, EncodingModel
from langmix.models.precision import DEFAULT_PRECISION
from langmix.progress import SILENT, ProgressSink
from langmix.retrieval.index import SearchIndex


@dataclass(frozen=True)
class Hit:
    doc_id: str
    score: float
    text: str | None = None


class DocStore(Protocol):
    """Anything that maps a doc id to its passage text (``Corpus`` and ``JsonlDocStore`` do)."""

    def get(self, doc_id: str) -> str | None: ...


class JsonlDocStore:
    """Passage texts of an uncompressed ``corpus.jsonl`` read on demand: one pass records each line's byte
    offset (memory: the ids), then every lookup is one seek and one JSON parse."""

    def __init__(self, path: str | Path):
        self.path = corpus_file(path)
        self._offsets: dict[str, int] = {}
        with open(self.path, "rb") as f:
            offset = 0
            for number, line in enumerate(f, start=1):
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                        raise DataError(self.path, f"invalid JSON ({exc})", f"line {number}") from None
                    p = passage_from_record(obj, self.path, f"line {number}")
                    if p.id in self._offsets:
                        raise DataError(self.path, f"duplicate doc id {p.id!r}", f"line {number}")
                    self._offsets[p.id] = offset
                offset += len(line)

    def __len__(self) -> int:
        return len(self._offsets)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._offsets

    def get(self, doc_id: str) -> str | None:
        offset = self._offsets.get(doc_id)
        if offset is None:
            return None
        with open(self.path, "rb") as f:
            f.seek(offset)
            return passage_from_record(json.loads(f.readline()), self.path, doc_id).contents


def open_docstore(path: str | Path) -> DocStore:
    """Text lookup for a corpus file or BEIR folder: offsets for ``.jsonl``, in memory for ``.jsonl.gz``."""
    path = corpus_file(path)
    return load_corpus(path) if path.suffix == ".gz" else JsonlDocStore(path)


class Searcher:
    """Encode queries with ``model`` and search ``index``; hits carry text when ``docs`` is given.

    Args:
        index: a :class:`SearchIndex` (``Searcher.load`` opens a folder).
        model: the encoder the passages were encoded with (needed for text queries only).
        docs: where hit texts come from (a ``Corpus``, :class:`JsonlDocStore`, any ``get(doc_id)``).
        query_prompt: prefix for queries; default the model's ``query`` prompt (``""`` for none).
        nprobe / ef_search: IVF / HNSW search breadth (default: the index's own settings).
        precision: of the query encoder (:mod:`langmix.models.precision`); the passages' own is recorded in
            ``index.info["meta"]["precision"]`` (absent: fp32).
    """

    def __init__(
        self,
        index: SearchIndex,
        model: EncodingModel | None = None,
        *,
        docs: DocStore | None = None,
        query_prompt: str | None = None,
        batch_size: int = ENCODE_BATCH_SIZE,
        normalize: bool = True,
        nprobe: int | None = None,
        ef_search: int | None = None,
        precision: str = DEFAULT_PRECISION,
    ):
        self.index, self.model, self.docs = index, model, docs
        self.query_prompt, self.batch_size, self.normalize = query_prompt, batch_size, normalize
        self.nprobe, self.ef_search, self.precision = nprobe, ef_search, precision
        self._encoder: Encoder | None = None

    @classmethod
    def load(cls, folder: str | Path, model: EncodingModel | None = None, **kwargs) -> Searcher:
        return cls(SearchIndex.load(folder), model, **kwargs)

    def _hits(self, scores: np.ndarray, positions: np.ndarray) -> list[Hit]:
        hits = []
        for score, pos in zip(scores.tolist(), positions.tolist(), strict=True):
            if pos < 0:
                continue
            doc_id = self.index.doc_id(pos)
            text = self.docs.get(doc_id) if self.docs is not None else None
            hits.append(Hit(doc_id, float(score), text))
        return hits

    @property
    def encoder(self) -> Encoder | None:
        """The query encoder (None without a model): the model's query prompt unless ``query_prompt``.
        Made once, so a model cast to another precision is cast once per searcher, not per query chunk."""
        if self.model is None:
            return None
        if self._encoder is None:
            self._encoder = Encoder(
                self.model,
                batch_size=self.batch_size,
                prompts={"query": self.query_prompt},
                normalize=self.normalize,
                precision=self.precision,
            )
        return self._encoder

    def search_embeddings(self, embeddings: np.ndarray, k: int = 10) -> list[list[Hit]]:
        scores, positions = self.index.search(embeddings, k, nprobe=self.nprobe, ef_search=self.ef_search)
        return [self._hits(s, p) for s, p in zip(scores, positions, strict=True)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        encoder = self.encoder
        if encoder is None:
            raise LangmixError(
                "this searcher has no model: text queries need the model the corpus was encoded with"
            )
        emb = encoder.encode_direct(texts, "query")
        if emb.shape[1] != self.index.dim:
            raise LangmixError(
                f"the model gives {emb.shape[1]}-dim embeddings, the index holds {self.index.dim}-dim "
                "ones: search with the model the corpus was encoded with"
            )
        return emb

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """Top ``k`` hits for one query, best first."""
        if not query.strip():
            raise LangmixError("empty query")
        return self.search_embeddings(self.encode([query]), k)[0]

    def search_many(
        self,
        queries: Queries | Mapping[str, str] | Sequence[str],
        k: int = 100,
        *,
        chunk: int = 1024,
        progress: ProgressSink = SILENT,
        label: str = "search",
    ) -> dict[str, list[Hit]]:
        """Hits for every query, keyed by query id (position as a string for a plain list of texts);
        ``progress`` gets a task ``label`` advanced by queries done."""
        if isinstance(queries, Queries):
            ids, texts = queries.ids, queries.texts
        elif isinstance(queries, Mapping):
            ids, texts = list(queries), list(queries.values())
        else:
            texts = list(queries)
            ids = [str(i) for i in range(len(texts))]
        results: dict[str, list[Hit]] = {}
        with progress.task(label, total=len(texts)) as advance:
            for start in range(0, len(texts), chunk):
                block_ids = ids[start : start + chunk]
                block = self.search_embeddings(self.encode(texts[start : start + chunk]), k)
                results.update(zip(block_ids, block, strict=True))
                advance(len(block_ids))
        return results


__all__ = [
    "Hit",
    "DocStore",
    "JsonlDocStore",
    "Searcher",
    "open_docstore",
]
