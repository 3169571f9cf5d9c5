"""Embeddings on disk as shards: one ``.npy`` matrix and one id list per shard, plus a manifest.

Layout of an embeddings folder (plain files, so each stage can run on another machine)::

    manifest.json        format, dim, dtype, shard_size, meta (model, prompt, ...), finished shards, complete
    shard-00000.npy      (n, dim) float16 or float32, row i = passage i of the shard (np.load(mmap_mode="r"))
    shard-00000.ids      n lines, the doc id of each row (UTF-8)
    ...

Writes are atomic per shard: rows and ids stream into hidden ``.shard-XXXXX.*.tmp`` files (memory stays one
chunk, whatever the shard size), and only a complete shard is renamed into place and added to the manifest.
An interrupted run leaves the finished shards; :class:`ShardWriter` cleans the temporary files and resumes
after the last finished shard. Doc ids are checked for duplicates across the whole corpus with 8 bytes of
memory per passage (64-bit hashes; a hash hit is confirmed against the id files before it is reported).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from langmix.errors import DataError, LangmixError
from langmix.io import write_json

FORMAT = "langmix-embeddings/1"
MANIFEST = "manifest.json"
DTYPES = ("float16", "float32")
DEFAULT_SHARD_SIZE = 100_000


def shard_stem(index: int) -> str:
    return f"shard-{index:05d}"


@dataclass(frozen=True)
class ShardInfo:
    index: int
    n: int
    first_id: str
    last_id: str

    @property
    def stem(self) -> str:
        return shard_stem(self.index)

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "n": self.n, "first_id": self.first_id, "last_id": self.last_id}


def _read_manifest(folder: Path) -> dict[str, Any]:
    import json

    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "no manifest: not an embeddings folder written by `langmix encode`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"unreadable manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(path, f"not a {FORMAT} manifest")
    return manifest


def read_ids(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="\n") as f:
        return [line.rstrip("\n") for line in f]


def _npy_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read(f)
    return shape, dtype


class ShardedEmbeddings:
    """Read side of an embeddings folder: memory-mapped shards, their ids, blocks for indexing."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.manifest = _read_manifest(self.folder)
        self.dim: int = int(self.manifest["dim"])
        self.dtype: str = self.manifest["dtype"]
        self.shards = [ShardInfo(**s) for s in self.manifest["shards"]]
        self.meta: dict[str, Any] = self.manifest.get("meta", {})

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    def __len__(self) -> int:
        return sum(s.n for s in self.shards)

    def shard_array(self, shard: ShardInfo | int) -> np.ndarray:
        info = self.shards[shard] if isinstance(shard, int) else shard
        path = self.folder / f"{info.stem}.npy"
        array = np.load(path, mmap_mode="r")
        if array.shape != (info.n, self.dim):
            raise DataError(path, f"shape {array.shape}, the manifest says ({info.n}, {self.dim})")
        return array

    def shard_ids(self, shard: ShardInfo | int) -> list[str]:
        info = self.shards[shard] if isinstance(shard, int) else shard
        path = self.folder / f"{info.stem}.ids"
        ids = read_ids(path)
        if len(ids) != info.n:
            raise DataError(path, f"{len(ids)} ids, the manifest says {info.n}")
        return ids

    def iter_shards(self) -> Iterator[tuple[list[str], np.ndarray]]:
        for info in self.shards:
            yield self.shard_ids(info), self.shard_array(info)

    def ids(self) -> list[str]:
        return [doc_id for info in self.shards for doc_id in self.shard_ids(info)]

    def iter_blocks(self, block_rows: int = 65_536) -> Iterator[np.ndarray]:
        """float32 blocks of at most ``block_rows`` rows, in corpus order (bounded memory)."""
        for info in self.shards:
            array = self.shard_array(info)
            for start in range(0, info.n, block_rows):
                yield np.ascontiguousarray(array[start : start + block_rows], dtype=np.float32)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """float32 rows at global ``positions`` (any order), reading only the shards involved."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty((len(positions), self.dim), dtype=np.float32)
        offsets = np.cumsum([0] + [s.n for s in self.shards])
        shard_of = np.searchsorted(offsets, positions, side="right") - 1
        for s in np.unique(shard_of):
            mask = shard_of == s
            local = positions[mask] - offsets[s]
            order = np.argsort(local)
            array = self.shard_array(int(s))
            block = np.asarray(array[local[order]], dtype=np.float32)
            target = np.flatnonzero(mask)[order]
            out[target] = block
        return out

    def load(self, dtype: str = "float32") -> np.ndarray:
        """Every row in one array (only for corpora that fit in memory)."""
        if not self.shards:
            return np.empty((0, self.dim), dtype=dtype)
        return np.concatenate([np.asarray(a, dtype=dtype) for _, a in self.iter_shards()])


def id_hashes(ids: Sequence[str]) -> np.ndarray:
    """64-bit blake2b hash of each id (stable across runs and machines)."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(i.encode("utf-8"), digest_size=8).digest(), "little") for i in ids),
        dtype=np.uint64,
        count=len(ids),
    )


def _merge_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    merged = np.concatenate([a, b])
    merged.sort(kind="stable")  # timsort: two sorted runs merge in linear time
    return merged


def _contains(sorted_hashes: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    if not len(sorted_hashes):
        return np.zeros(len(hashes), dtype=bool)
    pos = np.searchsorted(sorted_hashes, hashes)
    pos[pos == len(sorted_hashes)] = 0
    return sorted_hashes[pos] == hashes


class _OpenShard:
    """A shard being written: rows and ids stream to temporary files, renamed into place on commit."""

    def __init__(self, folder: Path, index: int, dim: int, dtype: str, capacity: int):
        self.folder, self.index, self.dim, self.dtype = folder, index, dim, np.dtype(dtype)
        stem = shard_stem(index)
        self.npy_tmp = folder / f".{stem}.npy.tmp"
        self.ids_tmp = folder / f".{stem}.ids.tmp"
        self.n = 0
        self.first_id: str | None = None
        self.last_id: str | None = None
        self._npy = open(self.npy_tmp, "wb")  # noqa: SIM115 - closed in commit/abort
        self._ids = open(self.ids_tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        self._write_header(capacity)
        self._header_len = self._npy.tell()

    def _write_header(self, rows: int) -> None:
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (rows, self.dim),
        }
        np.lib.format.write_array_header_1_0(self._npy, header)

    def append(self, ids: Sequence[str], embeddings: np.ndarray) -> None:
        if embeddings.shape != (len(ids), self.dim):
            raise LangmixError(
                f"encoder returned shape {embeddings.shape} for {len(ids)} texts of dim {self.dim}"
            )
        self._npy.write(np.ascontiguousarray(embeddings, dtype=self.dtype).tobytes())
        self._ids.write("".join(f"{i}\n" for i in ids))
        if ids:
            self.first_id = self.first_id if self.first_id is not None else ids[0]
            self.last_id = ids[-1]
        self.n += len(ids)

    def flush_ids(self) -> None:
        self._ids.flush()

    def commit(self) -> ShardInfo:
        # numpy pads the header so the row count can be rewritten in place; check it did not move the data.
        self._npy.seek(0)
        self._write_header(self.n)
        if self._npy.tell() != self._header_len:
            raise LangmixError("internal error: npy header changed length when rewritten")
        for f in (self._npy, self._ids):
            f.flush()
            os.fsync(f.fileno())
            f.close()
        stem = shard_stem(self.index)
        os.replace(self.ids_tmp, self.folder / f"{stem}.ids")
        os.replace(self.npy_tmp, self.folder / f"{stem}.npy")
        assert self.first_id is not None and self.last_id is not None
        return ShardInfo(self.index, self.n, self.first_id, self.last_id)

    def abort(self) -> None:
        for f in (self._npy, self._ids):
            if not f.closed:
                f.close()
        for path in (self.npy_tmp, self.ids_tmp):
            path.unlink(missing_ok=True)


class ShardWriter:
    """Write side: opens or resumes an embeddings folder, commits shards one at a time.

    Args:
        folder: the embeddings folder (created if needed).
        dim: embedding dimension.
        dtype: ``"float16"`` (half the disk and page cache; cosine scores change by ~1e-3) or ``"float32"``.
        shard_size: rows per shard (the last one may be shorter).
        meta: what produced the embeddings (model, prompt, normalisation, corpus...). Resuming with a
            different ``meta``, ``dim``, ``dtype`` or ``shard_size`` is refused, so shards never mix models.
        overwrite: start from scratch, deleting the shards and manifest already there.

    Example::

        writer = ShardWriter("emb/", dim=384, meta={"model": "embedded"})
        for chunk_ids, chunk_emb in chunks:            # after skipping writer.n_done passages
            shard = shard or writer.open_shard()
            shard.append(chunk_ids, chunk_emb)
            if shard.n == writer.shard_size:
                writer.commit(shard); shard = None
        writer.finish()
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        dim: int,
        dtype: str = "float16",
        shard_size: int = DEFAULT_SHARD_SIZE,
        meta: dict[str, Any] | None = None,
        overwrite: bool = False,
    ):
        if dtype not in DTYPES:
            raise LangmixError(f"unknown embedding dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
        if shard_size < 1:
            raise LangmixError(f"shard size must be positive, got {shard_size}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.dim, self.dtype, self.shard_size = int(dim), dtype, int(shard_size)
        self.meta = dict(meta or {})
        if overwrite:
            self._clear()
        self.shards: list[ShardInfo] = []
        self.complete = False
        if (self.folder / MANIFEST).is_file():
            self._resume()
        self._clean_stale()
        self._write_manifest()

    # -- state ---------------------------------------------------------------------------------------
    @property
    def n_done(self) -> int:
        return sum(s.n for s in self.shards)

    def _clear(self) -> None:
        for path in self.folder.iterdir():
            if path.name == MANIFEST or (path.name.lstrip(".").startswith("shard-") and path.is_file()):
                path.unlink()

    def _resume(self) -> None:
        manifest = _read_manifest(self.folder)
        mine = {"dim": self.dim, "dtype": self.dtype, "shard_size": self.shard_size, "meta": self.meta}
        theirs = {key: manifest.get(key) for key in mine}
        if theirs != mine:
            diff = ", ".join(
                f"{k}: {theirs[k]!r} there, {mine[k]!r} now" for k in mine if theirs[k] != mine[k]
            )
            raise LangmixError(
                f"{self.folder}: holds embeddings written with other settings ({diff}); "
                "use another folder, or --overwrite to start again"
            )
        self.complete = bool(manifest.get("complete"))
        for raw in manifest["shards"]:
            info = ShardInfo(**raw)
            npy = self.folder / f"{info.stem}.npy"
            ids = self.folder / f"{info.stem}.ids"
            if not npy.is_file() or not ids.is_file():
                raise DataError(
                    self.folder, f"finished shard {info.stem} is listed in the manifest but missing"
                )
            shape, dtype = _npy_shape(npy)
            if shape != (info.n, self.dim) or dtype != np.dtype(self.dtype):
                raise DataError(
                    npy, f"shape {shape} {dtype}, the manifest says ({info.n}, {self.dim}) {self.dtype}"
                )
            self.shards.append(info)

    def _clean_stale(self) -> None:
        """Remove temporary files of an interrupted shard and shard files the manifest does not list."""
        listed = {s.stem for s in self.shards}
        for path in self.folder.iterdir():
            name = path.name
            temporary = name.startswith(".shard-") and name.endswith(".tmp")
            unlisted = name.startswith("shard-") and name.split(".")[0] not in listed
            if (temporary or unlisted) and path.is_file():
                path.unlink()

    def _write_manifest(self) -> None:
        write_json(
            self.folder / MANIFEST,
            {
                "format": FORMAT,
                "dim": self.dim,
                "dtype": self.dtype,
                "shard_size": self.shard_size,
                "meta": self.meta,
                "n": self.n_done,
                "complete": self.complete,
                "shards": [s.as_dict() for s in self.shards],
            },
        )

    # -- writing -------------------------------------------------------------------------------------
    def open_shard(self) -> _OpenShard:
        if self.complete:
            raise LangmixError(f"{self.folder}: the embeddings are complete; use --overwrite to encode again")
        return _OpenShard(self.folder, len(self.shards), self.dim, self.dtype, self.shard_size)

    def commit(self, shard: _OpenShard) -> ShardInfo:
        if shard.n == 0:
            shard.abort()
            raise LangmixError("internal error: committing an empty shard")
        info = shard.commit()
        self.shards.append(info)
        self._write_manifest()
        return info

    def finish(self) -> None:
        self.complete = True
        self._write_manifest()


class DuplicateIdChecker:
    """Finds doc ids seen before, with 8 bytes per passage (sorted 64-bit hashes, merged once per shard).

    A hash hit is confirmed against the id files (finished shards and the shard being written) before it
    is reported, so a 64-bit collision can never reject a valid corpus.
    """

    def __init__(self, folder: Path, source: str = "corpus"):
        self.folder = folder
        self.source = source
        self._done = np.empty(0, dtype=np.uint64)
        self._current = np.empty(0, dtype=np.uint64)

    def add_finished(self, ids: Sequence[str]) -> None:
        self._done = _merge_sorted(self._done, np.sort(id_hashes(ids)))

    def end_shard(self) -> None:
        self._done = _merge_sorted(self._done, self._current)
        self._current = np.empty(0, dtype=np.uint64)

    def check(self, ids: Sequence[str], open_shard: _OpenShard | None, start: int) -> None:
        """Raise DataError for the first id of ``ids`` seen before; then remember them all.

        ``start`` is the 0-based corpus position of ``ids[0]`` (for the message).
        """
        hashes = id_hashes(ids)
        suspect = _contains(self._done, hashes) | _contains(self._current, hashes)
        uniq, counts = np.unique(hashes, return_counts=True)
        if (counts > 1).any():
            repeated = set(uniq[counts > 1].tolist())
            suspect |= np.fromiter((h in repeated for h in hashes.tolist()), dtype=bool, count=len(hashes))
        if suspect.any():
            self._confirm(ids, np.flatnonzero(suspect), open_shard, start)
        self._current = _merge_sorted(self._current, np.sort(hashes))

    def _confirm(
        self, ids: Sequence[str], suspects: np.ndarray, open_shard: _OpenShard | None, start: int
    ) -> None:
        wanted = {ids[i] for i in suspects}
        seen_at: dict[str, int] = {}
        position = 0
        files = sorted(self.folder.glob("shard-*.ids"))
        if open_shard is not None:
            open_shard.flush_ids()
            files.append(open_shard.ids_tmp)
        for path in files:
            for doc_id in read_ids(path):
                if doc_id in wanted and doc_id not in seen_at:
                    seen_at[doc_id] = position
                position += 1
        for offset, doc_id in enumerate(ids):
            if doc_id in seen_at:
                raise DataError(
                    self.source,
                    f"duplicate doc id {doc_id!r} (first seen as passage {seen_at[doc_id] + 1})",
                    f"passage {start + offset + 1}",
                )
            if doc_id in wanted:
                seen_at[doc_id] = start + offset
