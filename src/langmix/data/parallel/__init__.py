"""Parallel training data: one item per id, each with a query and a positive passage in several languages.

The data model (:class:`ParallelItem`, :class:`ParallelDataset`, :func:`split_validation`) is in
:mod:`.items`; each source has its own loader:

* :func:`load_squad_parallel` (:mod:`.squad_folder`) — SQuAD-format files, one per language, linked
  by the question ``id`` (XQuAD-R / MLQA-R, XTREME translate-train);
* :func:`load_parallel_jsonl` / :func:`write_parallel_jsonl` (:mod:`.jsonl`) — the documented JSONL
  format (see ``docs/training.md``);
* :func:`load_mmarco` (:mod:`.mmarco`) — mMARCO through the ``datasets`` library;
* :func:`load_parallel` (:mod:`.load`) — one entry point for a ``--data`` spec string.
"""

from __future__ import annotations

from langmix.data.parallel.items import (
    ParallelDataset,
    ParallelItem,
    ParallelText,
    check_language_code,
    split_validation,
)
from langmix.data.parallel.jsonl import load_parallel_jsonl, write_parallel_jsonl
from langmix.data.parallel.load import LAREQA_SHORTCUTS, load_parallel
from langmix.data.parallel.mmarco import MMARCO_LANGUAGES, load_mmarco
from langmix.data.parallel.squad_folder import PASSAGE_MODES, language_from_filename, load_squad_parallel
from langmix.data.squad import split_sentences

__all__ = [
    "LAREQA_SHORTCUTS",
    "MMARCO_LANGUAGES",
    "PASSAGE_MODES",
    "ParallelDataset",
    "ParallelItem",
    "ParallelText",
    "check_language_code",
    "language_from_filename",
    "load_mmarco",
    "load_parallel",
    "load_parallel_jsonl",
    "load_squad_parallel",
    "split_sentences",
    "split_validation",
    "write_parallel_jsonl",
]
