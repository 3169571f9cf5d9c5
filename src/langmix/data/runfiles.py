"""TREC run files, the plain format search writes and evaluation reads: ``qid Q0 docid rank score tag``.

The one module that reads, formats and writes runs, so the search stage (``langmix search``) and the
scoring stage (``langmix evaluate --runs``) can run on different machines and still agree on every byte.
Within a query, lines are ranked as trec_eval reads them: score descending, ties by doc id descending
(byte order), whatever the rank column says. Scores are written with ``repr(float)``, which reads back
to the same value exactly.

Search hits can also be written as JSON (``{qid: [{rank, doc_id, score, text?}]}``) for people and
notebooks; only the TREC format is read back.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from langmix.data.inputs import iter_lines
from langmix.errors import DataError, LangmixError
from langmix.io import write_atomic

OUTPUT_FORMATS = ("trec", "json")

Ranking = Sequence[tuple[str, float]]
Run = dict[str, dict[str, float]]  # {qid: {doc id: score}}


class ScoredDoc(Protocol):
    """One search hit (``langmix.retrieval.search.Hit`` is one); ``text`` may be None."""

    @property
    def doc_id(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def text(self) -> str | None: ...


def trec_order(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """A query's ranking as trec_eval reads it: score descending, ties by doc id descending."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def _ranked(docs: Ranking | Mapping[str, float]) -> list[tuple[str, float]]:
    return trec_order(docs if isinstance(docs, Mapping) else dict(docs))


def format_trec_run(run: Mapping[str, Ranking | Mapping[str, float]], tag: str = "langmix") -> str:
    """TREC run text, one ``qid Q0 docid rank score tag`` line per hit, ranked in trec_eval's order so the
    rank column agrees with how trec_eval reads the file."""
    if not tag or re.search(r"\s", tag):
        raise LangmixError(f"run tag {tag!r} must be a non-empty word without spaces")
    lines = []
    for qid, docs in run.items():
        for rank, (doc_id, score) in enumerate(_ranked(docs), start=1):
            lines.append(f"{qid} Q0 {doc_id} {rank} {float(score)!r} {tag}\n")
    return "".join(lines)


def write_trec_run(
    path: str | Path, run: Mapping[str, Ranking | Mapping[str, float]], tag: str = "langmix"
) -> Path:
    return write_atomic(path, format_trec_run(run, tag))


def _parse_line(parts: list[str], path: Path, record: str) -> tuple[str, str, float]:
    if len(parts) != 6:
        raise DataError(path, f"expected 'qid Q0 docid rank score tag', got {len(parts)} fields", record)
    qid, _, doc_id, _, score, _ = parts
    try:
        value = float(score)
    except ValueError:
        raise DataError(path, f"score {score!r} is not a number", record) from None
    if math.isnan(value):
        raise DataError(path, "score is NaN", record)
    return qid, doc_id, value


def read_trec_run(path: str | Path) -> Run:
    """Read a TREC run into ``{qid: {docid: score}}``.

    A doc listed twice for one query, a wrong field count or a non-numeric score raise DataError.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "run file not found")
    run: Run = {}
    for number, line in iter_lines(path):
        parts = line.split()
        if not parts:
            continue
        record = f"line {number}"
        qid, doc_id, value = _parse_line(parts, path, record)
        docs = run.setdefault(qid, {})
        if doc_id in docs:
            raise DataError(path, f"query {qid!r} lists doc {doc_id!r} twice", record)
        docs[doc_id] = value
    return run


def results_to_run(results: Mapping[str, Sequence[ScoredDoc]]) -> Run:
    """Search hits (``{qid: [hit, ...]}``) as a run ``{qid: {doc id: score}}``."""
    return {qid: {h.doc_id: h.score for h in hits} for qid, hits in results.items()}


def results_to_json(results: Mapping[str, Sequence[ScoredDoc]]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for qid, hits in results.items():
        rows = []
        for rank, h in enumerate(hits, start=1):
            row = {"rank": rank, "doc_id": h.doc_id, "score": h.score}
            if h.text is not None:
                row["text"] = h.text
            rows.append(row)
        out[qid] = rows
    return out


def write_results(
    path: str | Path, results: Mapping[str, Sequence[ScoredDoc]], fmt: str = "trec", tag: str = "langmix"
) -> Path:
    """Write hits as a TREC run (``fmt="trec"``) or JSON (``{qid: [{rank, doc_id, score, text?}]}``)."""
    if fmt == "trec":
        ranked = {qid: [(h.doc_id, h.score) for h in hits] for qid, hits in results.items()}
        return write_atomic(path, format_trec_run(ranked, tag))
    if fmt == "json":
        return write_atomic(path, json.dumps(results_to_json(results), ensure_ascii=False, indent=1) + "\n")
    raise LangmixError(f"unknown output format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
