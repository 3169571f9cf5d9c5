"""What a grid run is, so that an experiment reuses a finished run only when it is the same work.

An experiment is rerun after its file was edited; a run folder that merely exists must not stand in for a
run with the new settings. Each run records, in ``runs/<name>/identity.json``, two parts:

* ``train``: the resolved training options (every option that changes what is trained, as
  :func:`langmix.training.config.identity_options` lists them), the sha256 of every training-data file (by
  content: an edited file under the same name is other data), the starting model's fingerprint and the
  precision training resolves to on this machine;
* ``eval``: per evaluation set, its settings (languages, questions, max length, resolved precision) and the
  sha256 of its files.

A part that differs from the recorded one (or a run with no record: an older langmix) is not reused: the
earlier outputs are moved to ``stale/`` and the run is redone, with one line naming what differs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from langmix.data.benchmarks import LAREQA_BENCHMARKS
from langmix.data.fetch import benchmark_root

_CHUNK = 1 << 20


class FileDigests:
    """sha256 of files, each computed once per process (keyed by path, size and modification time)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], str] = {}

    def __call__(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._known:
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
            self._known[key] = digest.hexdigest()
        return self._known[key]

    def of_files(self, root: Path, files: list[Path]) -> dict[str, str]:
        """``{path relative to root: sha256}``: relative names, so a moved copy of the data is the same."""
        return {str(f.relative_to(root)) if f.is_relative_to(root) else f.name: self(f) for f in files}


def _visible_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(s.startswith(".") for s in p.relative_to(folder).parts)
    )


def lareqa_files(name: str, data_root: str | Path | None) -> tuple[Path, list[Path]]:
    """(data root, the question/candidate files) of a LAReQA set."""
    bench = LAREQA_BENCHMARKS[name]
    root = benchmark_root(bench, data_root, what=name)
    return root, [root / f.path for f in bench.files if f.path.endswith(".json")]


def training_data_identity(spec: str, data_root: str | Path | None, digests: FileDigests) -> dict[str, str]:
    """The content of one ``--data`` source: ``{file name: sha256}`` (a LAReQA set's names relative to the
    data root, a folder's prefixed with its name); a hub dataset is named by its id."""
    if spec in LAREQA_BENCHMARKS:
        return digests.of_files(*lareqa_files(spec, data_root))
    path = Path(spec.split(":", 1)[1]) if spec.startswith("mmarco:") else Path(spec)
    if path.is_file():
        return {path.name: digests(path)}
    if path.is_dir():
        return digests.of_files(path.parent, _visible_files(path))
    return {spec: "hub"}


def part_hash(part: dict[str, Any]) -> str:
    """One short hash of an identity part (recorded next to it, for a human comparing two runs)."""
    text = json.dumps(part, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def recorded_run_identity(run_dir: Path) -> dict[str, Any] | None:
    """The identity a grid run folder recorded in its ``identity.json`` (None: none, or unreadable)."""
    try:
        doc = json.loads((Path(run_dir) / "identity.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
