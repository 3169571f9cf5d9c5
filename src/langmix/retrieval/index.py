"""A faiss index over an embeddings folder: exact inner product by default, IVF or HNSW for large corpora.

Scores are inner products of L2-normalised embeddings, i.e. cosine similarity (SPEC §1).

Index folder layout::

    index.faiss     the faiss index (faiss.write_index)
    ids.npy         doc id of each row, fixed-width UTF-8 bytes (memory-mapped on load)
    index.json      kind and parameters, rows, dim, the embeddings folder, its meta (model identity, prompt,
                    precision, ...) and identity, and ``files``: the size and sha256 of the two files above

The folder is written whole or not at all: built in a hidden sibling named after the writing process, fsynced,
then renamed into place (:func:`langmix.io.atomic_folder`), one writer at a time
(:class:`langmix.io.FolderLock`). Loading checks every file against ``files``, so a folder that was
damaged or assembled from two builds is one error naming the file, never wrong hits.

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
from langmix.io import FolderLock, atomic_folder, file_digest, write_json
from langmix.progress import SILENT, ProgressSink
from langmix.retrieval.shards import ShardedEmbeddings

INDEX_KINDS = ("flat", "ivf", "hnsw")
INDEX_FORMAT = "langmix-index/1"
INDEX_FILES = ("index.faiss", "ids.npy")
REBUILD = "rebuild it with `langmix index`"


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
        """Write the index folder as a whole (see the module docstring); an existing one is replaced."""
        folder = Path(folder)
        faiss = _faiss()
        with FolderLock(folder, "index folder"):
            _check_replaceable(folder)
            files = self._write(folder, faiss)
        self.info = {**self.info, "files": files}
        self.folder = folder
        return folder

    def _write(self, folder: Path, faiss: Any) -> dict[str, Any]:
        with atomic_folder(folder) as build:
            faiss.write_index(self.index, str(build / "index.faiss"))
            with open(build / "ids.npy", "wb") as f:
                np.save(f, np.asarray(self.ids))
            files = {name: file_digest(build / name) for name in INDEX_FILES}
            write_json(build / "index.json", {**self.info, "files": files})
        return files

    @classmethod
    def load(cls, folder: str | Path, *, verify: bool = True) -> SearchIndex:
        """Open an index folder, checking each file's size and (``verify``, default) sha256 against
        ``index.json``: a damaged or torn folder raises :class:`DataError` naming the file."""
        folder = Path(folder)
        info = _read_info(folder)
        for name in INDEX_FILES:
            _check_file(folder / name, info["files"].get(name), verify)
        try:
            index = _faiss().read_index(str(folder / "index.faiss"))
        except RuntimeError as exc:
            raise DataError(folder / "index.faiss", f"unreadable faiss index ({exc}); {REBUILD}") from None
        try:
            ids = np.load(folder / "ids.npy", mmap_mode="r")
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(folder / "ids.npy", f"unreadable ({exc}); {REBUILD}") from None
        if index.ntotal != len(ids) or index.ntotal != info.get("n"):
            raise DataError(
                folder, f"{index.ntotal} rows, {len(ids)} ids, index.json says {info.get('n')}; {REBUILD}"
            )
        return cls(index, ids, info, folder)


def _check_replaceable(folder: Path) -> None:
    """An existing ``folder`` is replaced as a whole, so it must be an index folder (or empty): never a
    folder of the user's other files given as ``--out`` by mistake."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise LangmixError(f"{folder}: exists and is not a folder; give a folder path for the index")
    others = sorted(
        p.name for p in folder.iterdir() if p.name not in (*INDEX_FILES, "index.json") and p.name[:1] != "."
    )
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise LangmixError(
            f"{folder}: holds files that are not part of an index ({shown}); an index folder is replaced "
            "as a whole, so give a new or empty folder"
        )


def _read_info(folder: Path) -> dict[str, Any]:
    info_path = folder / "index.json"
    if not info_path.is_file():
        raise DataError(folder, "no index.json: not an index folder written by `langmix index`")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(info_path, f"unreadable index description ({exc}); {REBUILD}") from None
    if not isinstance(info, dict) or info.get("format") != INDEX_FORMAT:
        raise DataError(info_path, f"not a {INDEX_FORMAT} index description")
    if not isinstance(info.get("files"), dict):
        raise DataError(
            info_path,
            f"written by an earlier langmix without file checksums, so it may mix two builds; {REBUILD}",
        )
    return info


def _check_file(path: Path, recorded: Any, verify: bool) -> None:
    """Refuse a file that is not the one ``index.json`` lists (missing, another size or content)."""
    if not isinstance(recorded, dict):
        raise DataError(path, f"not listed in index.json; {REBUILD}")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(path, f"missing from the index folder; {REBUILD}") from None
    if size != recorded.get("size"):
        raise DataError(path, f"{size} bytes, index.json says {recorded.get('size')}: damaged; {REBUILD}")
    if verify and file_digest(path)["sha256"] != recorded.get("sha256"):
        raise DataError(
            path, f"its sha256 is not the one index.json records: damaged or from another build; {REBUILD}"
        )


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
            "embeddings_identity": embeddings.identity,
            "corpus_sha256": embeddings.corpus_sha256,
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
    if (
        isinstance(embeddings, ShardedEmbeddings)
        and ShardedEmbeddings(embeddings.folder).identity != (source.facts["embeddings_identity"])
    ):
        raise LangmixError(
            f"{embeddings.folder}: the embeddings were rewritten while they were being indexed; index again"
        )
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
