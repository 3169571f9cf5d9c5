"""A faiss index over an embeddings folder: exact inner product by default, IVF or HNSW for large corpora.

Scores are inner products of L2-normalised embeddings, i.e. cosine similarity (SPEC §1).

Index folder layout::

    index.faiss     the faiss index (faiss.write_index)
    ids.npy         doc id of each row, fixed-width UTF-8 bytes (memory-mapped on load)
    index.json      kind and parameters, rows, dim, the embeddings folder and its meta (model, prompt, ...)

Kinds:
    ``flat``  exact search (``IndexFlatIP``); float32 in memory: 4 * dim bytes per passage.
    ``ivf``   ``IVF<nlist>,Flat``: k-means cells trained on a sample, ``nprobe`` cells searched per query.
    ``hnsw``  ``HNSW<M>,Flat``: graph search, ``ef_search`` candidates per query; slow to build on few cores.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from langmix.errors import DataError, LangmixError
from langmix.io import atomic_path, write_json
from langmix.progress import SILENT, ProgressSink
from langmix.retrieval.shards import ShardedEmbeddings

INDEX_KINDS = ("flat", "ivf", "hnsw")
INDEX_FORMAT = "langmix-index/1"


def _faiss():
    import faiss  # imported lazily: a heavy extension only the index and search stages need

    return faiss


@dataclass
class IndexConfig:
    """How to build the index.

    Args:
        kind: ``"flat"`` (exact, default), ``"ivf"`` or ``"hnsw"``.
        nlist: IVF cells (default ``4 * sqrt(n)``, at most ``n / 39``).
        nprobe: IVF cells searched per query (default at search time; can be changed per search).
        train_size: IVF training sample (default ``min(n, 64 * nlist)``), drawn uniformly with ``seed``.
        m: HNSW neighbours per node.
        ef_construction: HNSW build-time candidate list.
        ef_search: HNSW search-time candidate list (raised to k when k is larger).
    """

    kind: str = "flat"
    nlist: int | None = None
    nprobe: int = 32
    train_size: int | None = None
    m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise LangmixError(f"unknown index kind {self.kind!r}; choose one of {', '.join(INDEX_KINDS)}")
        for name in ("nprobe", "m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise LangmixError(f"index option {name} must be positive, got {getattr(self, name)}")
        if self.nlist is not None and self.nlist < 1:
            raise LangmixError(f"index option nlist must be positive, got {self.nlist}")

    def resolved_nlist(self, n: int) -> int:
        nlist = self.nlist or int(round(4 * math.sqrt(n)))
        return max(1, min(nlist, n // 39 if n >= 39 else 1))

    def factory(self, n: int) -> str:
        if self.kind == "flat":
            return "Flat"
        if self.kind == "ivf":
            return f"IVF{self.resolved_nlist(n)},Flat"
        return f"HNSW{self.m},Flat"


class SearchIndex:
    """A faiss index plus the doc id of every row. ``search`` returns scores and row positions."""

    def __init__(self, index: Any, ids: np.ndarray, info: dict[str, Any], folder: Path | None = None):
        if index.ntotal != len(ids):
            raise LangmixError(f"index has {index.ntotal} rows but {len(ids)} ids")
        self.index = index
        self.ids = ids
        self.info = info
        self.folder = folder

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def kind(self) -> str:
        return self.info["kind"]

    def doc_id(self, position: int) -> str:
        return bytes(self.ids[position]).decode("utf-8")

    def _params(self, k: int, nprobe: int | None, ef_search: int | None) -> Any:
        faiss = _faiss()
        config = self.info.get("config", {})
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(nprobe=int(nprobe or config.get("nprobe", 32)))
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=max(int(ef_search or config.get("ef_search", 128)), k))
        return None

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        nprobe: int | None = None,
        ef_search: int | None = None,
        batch_size: int = 4096,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows for each query: ``(scores, positions)``, both ``(n_queries, k')`` with
        ``k' = min(k, len(self))``, best first. Rows the index could not fill (IVF with few cells probed)
        have position -1 and score -inf."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise LangmixError(f"query embeddings of shape {queries.shape} for an index of dim {self.dim}")
        if k < 1:
            raise LangmixError(f"k must be positive, got {k}")
        k = min(k, len(self))
        params = self._params(k, nprobe, ef_search)
        scores = np.empty((len(queries), k), dtype=np.float32)
        positions = np.empty((len(queries), k), dtype=np.int64)
        for start in range(0, len(queries), batch_size):
            block = queries[start : start + batch_size]
            s, p = (
                self.index.search(block, k, params=params)
                if params is not None
                else self.index.search(block, k)
            )
            scores[start : start + len(block)] = s
            positions[start : start + len(block)] = p
        scores[positions < 0] = -np.inf
        return scores, positions

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        faiss = _faiss()
        with atomic_path(folder / "index.faiss") as tmp:
            faiss.write_index(self.index, str(tmp))
        with atomic_path(folder / "ids.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(self.ids))
        write_json(folder / "index.json", self.info)  # last: its presence means the folder is complete
        self.folder = folder
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SearchIndex:
        folder = Path(folder)
        info_path = folder / "index.json"
        if not info_path.is_file():
            raise DataError(folder, "no index.json: not an index folder written by `langmix index`")
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("format") != INDEX_FORMAT:
            raise DataError(info_path, f"not a {INDEX_FORMAT} index description")
        index = _faiss().read_index(str(folder / "index.faiss"))
        ids = np.load(folder / "ids.npy", mmap_mode="r")
        return cls(index, ids, info, folder)


def ids_array(ids: list[str]) -> np.ndarray:
    encoded = [i.encode("utf-8") for i in ids]
    width = max((len(e) for e in encoded), default=1)
    return np.array(encoded, dtype=f"S{max(width, 1)}")


@dataclass
class _Source:
    """What an index is built from: row count, dim, ids, facts for index.json, and row readers."""

    n: int
    dim: int
    ids: list[str]
    facts: dict[str, Any]
    blocks: Callable[[int], Iterator[np.ndarray]]  # float32 blocks of at most that many rows, in order
    rows: Callable[[np.ndarray], np.ndarray]  # float32 rows at sorted positions (the IVF training sample)


def _source(
    embeddings: ShardedEmbeddings | np.ndarray, ids: list[str] | None, allow_incomplete: bool
) -> _Source:
    if isinstance(embeddings, ShardedEmbeddings):
        if not embeddings.complete and not allow_incomplete:
            raise LangmixError(
                f"{embeddings.folder}: encoding is not finished; run `langmix encode` again to "
                "resume it first"
            )
        facts = {
            "embeddings": str(embeddings.folder.resolve()),
            "meta": embeddings.meta,
            "dtype": embeddings.dtype,
        }
        doc_ids = embeddings.ids() if ids is None else ids
        return _Source(
            len(embeddings), embeddings.dim, doc_ids, facts, embeddings.iter_blocks, embeddings.rows
        )
    array = np.asarray(embeddings)
    if array.ndim != 2:
        raise LangmixError(f"embeddings must be a matrix, got shape {array.shape}")
    n, dim = array.shape

    def blocks(block_rows: int = 65_536) -> Iterator[np.ndarray]:
        for s in range(0, n, block_rows):
            yield np.ascontiguousarray(array[s : s + block_rows], dtype=np.float32)

    def rows(positions: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array[np.sort(positions)], dtype=np.float32)

    doc_ids = [str(i) for i in range(n)] if ids is None else ids
    facts = {"embeddings": "<array>", "meta": {}, "dtype": str(array.dtype)}
    return _Source(n, dim, doc_ids, facts, blocks, rows)


def _train(index: Any, config: IndexConfig, source: _Source, progress: ProgressSink, label: str) -> float:
    """Train an IVF index on a uniform sample drawn with ``config.seed``; return the seconds it took."""
    faiss = _faiss()
    size = min(source.n, config.train_size or 64 * config.resolved_nlist(source.n))
    rng = np.random.default_rng(config.seed)
    sample = source.rows(np.sort(rng.choice(source.n, size=size, replace=False)))
    with progress.task(f"{label} (train)", total=size) as advance:
        t0 = time.perf_counter()
        faiss.extract_index_ivf(index).cp.seed = config.seed
        index.train(sample)
        advance(size)
    return time.perf_counter() - t0


def build_index(
    embeddings: ShardedEmbeddings | np.ndarray,
    config: IndexConfig | None = None,
    *,
    ids: list[str] | None = None,
    progress: ProgressSink = SILENT,
    label: str = "index",
    allow_incomplete: bool = False,
) -> SearchIndex:
    """Build a :class:`SearchIndex` from an embeddings folder (streamed shard by shard) or an array.

    Progress is reported as the task ``label`` (rows added), preceded by ``"<label> (train)"`` for IVF. An
    embeddings folder whose encoding is not finished is refused unless ``allow_incomplete``.

    Example::

        index = build_index(ShardedEmbeddings("emb/"), IndexConfig(kind="ivf", nlist=4096))
        index.save("idx/")
    """
    config = config or IndexConfig()
    faiss = _faiss()
    start = time.perf_counter()
    source = _source(embeddings, ids, allow_incomplete)
    n = source.n
    if len(source.ids) != n:
        raise LangmixError(f"{len(source.ids)} ids for {n} embeddings")
    if n == 0:
        raise LangmixError("no embeddings to index")

    index = faiss.index_factory(source.dim, config.factory(n), faiss.METRIC_INNER_PRODUCT)
    if config.kind == "hnsw":
        index.hnsw.efConstruction = config.ef_construction
    train_seconds = 0.0 if index.is_trained else _train(index, config, source, progress, label)
    # HNSW adds in parallel within one call: bigger blocks use the cores better.
    block_rows = 262_144 if config.kind == "hnsw" else 65_536
    with progress.task(label, total=n) as advance:
        for block in source.blocks(block_rows):
            index.add(block)
            advance(len(block))
    info = {
        "format": INDEX_FORMAT,
        "kind": config.kind,
        "factory": config.factory(n),
        "config": asdict(config),
        "n": n,
        "dim": source.dim,
        "metric": "inner_product",
        **source.facts,
        "build_seconds": round(time.perf_counter() - start, 3),
        "train_seconds": round(train_seconds, 3),
    }
    if config.kind == "ivf":
        info["config"]["nlist"] = config.resolved_nlist(n)
    return SearchIndex(index, ids_array(source.ids), info)
