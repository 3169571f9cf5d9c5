"""Benchmark files on this machine: which data root holds them, and fetching the pinned official ones.

A benchmark is read from a *data root*: the folder a command was given, else ``$LANGMIX_DATA_DIR``,
else langmix's cache (:func:`langmix.paths.data_cache_dir`) once ``langmix data fetch`` has filled it
with the files declared in :mod:`langmix.data.benchmarks`. Every download is checked against its pinned
sha256 and written atomically, so a failed, truncated or altered download never leaves a file behind;
files already there with the right checksum are not fetched again. ``$LANGMIX_DATA_MIRROR`` (or
``mirror=``) replaces the upstream addresses with ``<mirror>/<path>``: a copy of the data-root layout
served over HTTP, for closed networks and for the tests.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langmix.data.benchmarks import BENCHMARKS, Benchmark, DataFile
from langmix.data.squad import sha256_file
from langmix.errors import DataError, LangmixError
from langmix.io import atomic_path
from langmix.paths import data_cache_dir, data_dir
from langmix.progress import SILENT, ProgressSink

MIRROR_ENV = "LANGMIX_DATA_MIRROR"
_BLOCK = 1 << 16


def get_benchmarks(names: Iterable[str]) -> list[Benchmark]:
    """The registry entries of ``names`` (``all`` = every benchmark); an unknown name is an error."""
    names = list(names)
    if "all" in names:
        return list(BENCHMARKS.values())
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        choices = ", ".join([*BENCHMARKS, "all"])
        raise LangmixError(f"unknown benchmark {', '.join(unknown)}; choose from {choices}")
    return [BENCHMARKS[n] for n in dict.fromkeys(names)]


def benchmark_root(bench: Benchmark, data_root: str | Path | None = None, *, what: str | None = None) -> Path:
    """The data root to read ``bench`` from: ``data_root``, else ``$LANGMIX_DATA_DIR``, else the cache
    when it holds every file of ``bench``; otherwise one line saying what to set or run."""
    if data_root is not None:
        return Path(data_root)
    root = data_dir()
    if root is not None:
        return root
    cache = data_cache_dir()
    if all((cache / f.path).is_file() for f in bench.files):
        return cache
    raise LangmixError(
        f"{what or bench.name}: no data folder; set LANGMIX_DATA_DIR to a folder holding {bench.folder}/, "
        f"or run `langmix data fetch {bench.name}` to download it into {cache}"
    )


@dataclass(frozen=True)
class Presence:
    """How much of a benchmark a data root holds."""

    root: Path
    present: int  # files with the pinned sha256
    modified: int  # files that are there with another sha256
    total: int

    @property
    def complete(self) -> bool:
        return self.present == self.total


def presence(bench: Benchmark, root: Path) -> Presence:
    present = modified = 0
    for f in bench.files:
        path = root / f.path
        if path.is_file():
            if sha256_file(path) == f.sha256:
                present += 1
            else:
                modified += 1
    return Presence(root, present, modified, len(bench.files))


def missing_files(bench: Benchmark, root: Path) -> list[DataFile]:
    """Files of ``bench`` that ``root`` lacks or holds with another checksum."""
    return [f for f in bench.files if not (root / f.path).is_file() or sha256_file(root / f.path) != f.sha256]


def mirror_base(mirror: str | None = None) -> str | None:
    value = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
    return value.rstrip("/") if value else None


def file_url(bench: Benchmark, file: DataFile, mirror: str | None = None) -> str:
    base = mirror_base(mirror)
    return f"{base}/{file.path}" if base else bench.url(file)


def _stream(url: str, target: Path, progress: ProgressSink, label: str, timeout: float) -> str:
    """Copy ``url`` into ``target``; return its sha256. A body shorter than announced is an error."""
    digest, done = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(target, "wb") as out:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with progress.task(label, total) as advance:
            try:
                while block := resp.read(_BLOCK):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    advance(len(block))
            except http.client.IncompleteRead as exc:
                done += len(exc.partial)
                total = done + (exc.expected or 0)
        if total is not None and done < total:
            raise DataError(url, f"download stopped after {done:,} of {total:,} bytes; nothing was kept")
    return digest.hexdigest()


def download_file(
    url: str,
    target: str | Path,
    sha256: str,
    *,
    progress: ProgressSink = SILENT,
    label: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` into ``target`` atomically, refusing a file whose sha256 differs from the pinned one."""
    target = Path(target)
    try:
        with atomic_path(target) as tmp:
            got = _stream(url, tmp, progress, label or target.name, timeout)
            if got != sha256:
                raise DataError(url, f"sha256 {got} does not match the pinned {sha256}; nothing was kept")
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise LangmixError(f"{url}: download failed: {reason}") from None
    return target


def fetch(
    names: Iterable[str],
    *,
    root: str | Path | None = None,
    mirror: str | None = None,
    progress: ProgressSink = SILENT,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Download the missing files of the named benchmarks into ``root`` (default: the cache).

    Returns the files downloaded (empty when everything was already there with the pinned checksum);
    ``log`` is told, per benchmark that needs files, how many, from where and into which folder.
    """
    root = Path(root) if root is not None else data_cache_dir()
    fetched = []
    for bench in get_benchmarks(names):
        todo = missing_files(bench, root)
        if todo and log is not None:
            source = mirror_base(mirror) or f"github.com/{bench.repo}@{bench.revision[:10]}"
            log(f"fetching {bench.name}: {len(todo)} file(s) from {source} into {root / bench.folder}")
        for f in todo:
            url = file_url(bench, f, mirror)
            fetched.append(download_file(url, root / f.path, f.sha256, progress=progress, label=f.path))
    return fetched


def ensure(names: Iterable[str], data_root: str | Path | None = None, **fetch_options: Any) -> Path:
    """A data root that holds every named benchmark, settled before any model is loaded.

    A given folder (``data_root``, else ``$LANGMIX_DATA_DIR``) is only checked, never written; without
    one the cache is filled with what it lacks (``fetch_options``: :func:`fetch`'s ``mirror``,
    ``progress``, ``log``). Either way a problem is one line saying what to set or run.
    """
    benches = get_benchmarks(names)
    wanted = " ".join(b.name for b in benches)
    folders = ", ".join(f"{b.folder}/" for b in benches)
    root = Path(data_root) if data_root is not None else data_dir()
    if root is not None:
        lacking = [f"{b.folder}/" for b in benches if not (root / b.folder).is_dir()]
        if lacking:
            raise LangmixError(
                f"data folder {root} (LANGMIX_DATA_DIR) has no {', '.join(lacking)}; point it at a folder "
                f"holding {folders}, unset it to let langmix fetch into its cache, or run "
                f"`langmix data fetch {wanted} --dest {root}`"
            )
        return root
    try:
        fetch([b.name for b in benches], root=data_cache_dir(), **fetch_options)
    except LangmixError as exc:
        raise LangmixError(
            f"cannot fetch {wanted} ({exc}); offline, set LANGMIX_DATA_DIR to a folder holding {folders}, "
            f"or run `langmix data fetch {wanted}` on a machine with a network"
        ) from None
    return data_cache_dir()
