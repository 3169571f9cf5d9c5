"""One entry point for a ``--data`` spec string: the LAReQA sets, mMARCO, a JSONL file or a SQuAD folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from langmix.data.benchmarks import LAREQA_BENCHMARKS
from langmix.data.fetch import benchmark_root
from langmix.data.parallel.items import ParallelDataset
from langmix.data.parallel.jsonl import load_parallel_jsonl
from langmix.data.parallel.mmarco import MMARCO_HUB, load_mmarco
from langmix.data.parallel.squad_folder import load_squad_parallel
from langmix.errors import DataError, LangmixError

LAREQA_SHORTCUTS = tuple(LAREQA_BENCHMARKS)


def _load_path(
    spec: str, languages: Sequence[str] | None, passage: str, negatives: dict[str, int]
) -> ParallelDataset:
    path = Path(spec)
    if path.suffix == ".jsonl":
        return load_parallel_jsonl(path, languages=languages)
    if path.is_dir():
        return load_squad_parallel(path, languages=languages, passage=passage, **negatives)
    if not path.exists():
        raise DataError(
            path, "not found (expected a folder of <lang>.json, a .jsonl file, mlqa-r, xquad-r or mmarco)"
        )
    raise DataError(path, "unknown training-data format (expected a folder of <lang>.json or a .jsonl file)")


def load_parallel(
    spec: str,
    *,
    languages: Sequence[str] | None = None,
    passage: str = "sentence",
    data_root: str | Path | None = None,
    max_items: int | None = None,
    hard_negatives: int = 0,
    seed: int = 0,
) -> ParallelDataset:
    """Resolve a ``--data`` value:

    * ``mlqa-r`` / ``xquad-r`` — the LAReQA set's files under ``<data root>/lareqa/<name>/``
      (``data_root``, else ``$LANGMIX_DATA_DIR``, else what ``langmix data fetch`` put in the cache);
    * ``mmarco`` or ``mmarco:<hub id or local folder>`` — needs ``languages``;
    * a ``.jsonl`` file — the parallel JSONL format;
    * a folder of ``<lang>.json`` SQuAD-format files.

    ``hard_negatives`` / ``seed``: SQuAD-format sources (the LAReQA sets, folders) draw that many hard
    negatives per version from the answer's paragraph (:mod:`.negatives`); JSONL and mMARCO carry their own.
    """
    negatives = {"hard_negatives": hard_negatives, "seed": seed}
    if spec in LAREQA_BENCHMARKS:
        bench = LAREQA_BENCHMARKS[spec]
        folder = benchmark_root(bench, data_root, what=f"--data {spec}") / bench.folder
        ds = load_squad_parallel(folder, name=spec, languages=languages, passage=passage, **negatives)
    elif spec == "mmarco" or spec.startswith("mmarco:"):
        if not languages:
            raise LangmixError("--data mmarco needs --languages (e.g. en,de,zh)")
        path = spec.split(":", 1)[1] if ":" in spec else MMARCO_HUB
        ds = load_mmarco(languages, path=path, max_items=max_items, streaming=max_items is not None)
    else:
        ds = _load_path(spec, languages, passage, negatives)
    return ds.head(max_items) if max_items is not None else ds
