"""Score TREC runs with pytrec_eval, under trec_eval ``-c`` semantics, and read/write run files.

``trec_eval -c`` averages over every query of the qrels: a judged query absent from the run (or with an
empty ranking) counts as 0 for every measure. pytrec_eval alone scores only the queries present in both,
so :func:`evaluate_run` adds those zeros. Queries of the run that the qrels do not judge are ignored, as
trec_eval does. Within a query, trec_eval ranks by score (descending), ties broken by doc id (descending,
byte order), whatever the rank column says; the cut-off used for MRR@k follows the same order.

Metric names (``DEFAULT_METRICS`` = nDCG@10, Recall@100, MRR@10, MAP):

=============  ==========================================================================
``nDCG@k``     trec_eval ``ndcg_cut.k``: gain = relevance grade, discount log2(rank + 1), ideal
               ranking from all judged documents of the query
``Recall@k``   ``recall.k``: relevant in the top k / all relevant of the query (not capped)
``MRR@k``      ``recip_rank`` on the run cut at k: 1 / rank of the first relevant, 0 if none in the top k
``MAP``        ``map`` over the whole run (its depth is the run's k); ``MAP@k``: ``map_cut.k``
``P@k``        ``P.k``
=============  ==========================================================================

Relevance: grade > 0 is relevant (trec_eval's default level 1); grade 0 is judged non-relevant.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from langmix.data.beir import Qrels, check_id
from langmix.errors import DataError, LangmixError
from langmix.io import write_atomic

DEFAULT_METRICS: tuple[str, ...] = ("nDCG@10", "Recall@100", "MRR@10", "MAP")
_METRIC = re.compile(r"^(nDCG|Recall|MRR|MAP|P)(?:@(\d+))?$")


@dataclass(frozen=True)
class MetricSpec:
    label: str
    measure: str  # pytrec_eval measure to request
    key: str  # key pytrec_eval returns
    run_cut: int | None = None  # evaluate on the run truncated to this depth (MRR@k)


def parse_metric(label: str) -> MetricSpec:
    m = _METRIC.match(label)
    if not m:
        raise LangmixError(f"unknown metric {label!r}; use nDCG@k, Recall@k, MRR@k, MAP, MAP@k or P@k")
    name, cut = m.group(1), m.group(2)
    k = int(cut) if cut else None
    if k is not None and k < 1:
        raise LangmixError(f"metric {label!r}: the cut-off must be positive")
    if name == "MAP":
        return (
            MetricSpec(label, "map", "map")
            if k is None
            else MetricSpec(label, f"map_cut.{k}", f"map_cut_{k}")
        )
    if name == "MRR":
        return MetricSpec(label, "recip_rank", "recip_rank", run_cut=k)
    if k is None:
        raise LangmixError(f"metric {label!r} needs a cut-off, e.g. {name}@10")
    measure = {"nDCG": "ndcg_cut", "Recall": "recall", "P": "P"}[name]
    return MetricSpec(label, f"{measure}.{k}", f"{measure}_{k}")


def trec_order(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """A query's ranking as trec_eval reads it: score descending, ties by doc id descending."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


@dataclass
class RunScores:
    """Per-query scores of one run against one qrels, every judged query included (-c)."""

    metrics: tuple[str, ...]
    per_query: dict[str, dict[str, float]]
    missing: list[str] = field(default_factory=list)  # judged queries absent from the run: scored 0
    ignored: list[str] = field(default_factory=list)  # run queries without judgements: not scored

    @property
    def n_queries(self) -> int:
        return len(self.per_query)

    def mean(self) -> dict[str, float]:
        n = len(self.per_query)
        return {m: (math.fsum(q[m] for q in self.per_query.values()) / n if n else 0.0) for m in self.metrics}


def _as_judgments(qrels: Qrels | Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    judgments = qrels.judgments if isinstance(qrels, Qrels) else qrels
    return {q: {d: int(g) for d, g in docs.items()} for q, docs in judgments.items()}


def evaluate_run(
    qrels: Qrels | Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> RunScores:
    """Score ``run`` (``{qid: {docid: score}}``) against ``qrels`` with trec_eval ``-c`` semantics.

    Example (one relevant doc at rank 2; a second judged query missing from the run)::

        >>> s = evaluate_run({"q1": {"a": 1, "b": 0}, "q2": {"c": 1}}, {"q1": {"b": 2.0, "a": 1.0}},
        ...                  ["MRR@10"])
        >>> s.per_query["q1"]["MRR@10"], s.per_query["q2"]["MRR@10"], s.mean()["MRR@10"]
        (0.5, 0.0, 0.25)
    """
    import pytrec_eval

    specs = [parse_metric(m) for m in metrics]
    if len({s.label for s in specs}) != len(specs):
        raise LangmixError(f"a metric is listed twice in {', '.join(metrics)}")
    judgments = _as_judgments(qrels)
    scored_run = {
        q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in judgments and docs
    }
    per_query: dict[str, dict[str, float]] = {q: {s.label: 0.0 for s in specs} for q in judgments}
    by_cut: dict[int | None, list[MetricSpec]] = {}
    for spec in specs:
        by_cut.setdefault(spec.run_cut, []).append(spec)
    for cut, group in by_cut.items():
        cut_run = scored_run if cut is None else {q: dict(trec_order(d)[:cut]) for q, d in scored_run.items()}
        evaluator = pytrec_eval.RelevanceEvaluator(judgments, {s.measure for s in group})
        for qid, values in evaluator.evaluate(cut_run).items():
            for spec in group:
                per_query[qid][spec.label] = float(values[spec.key])
    return RunScores(
        metrics=tuple(s.label for s in specs),
        per_query=per_query,
        missing=[q for q in judgments if q not in scored_run],
        ignored=[q for q in run if q not in judgments],
    )


# -- run files -------------------------------------------------------------------------------------------
Ranking = Sequence[tuple[str, float]]


def _ranked(docs: Ranking | Mapping[str, float]) -> list[tuple[str, float]]:
    return trec_order(docs if isinstance(docs, Mapping) else dict(docs))


def format_trec_run(run: Mapping[str, Ranking | Mapping[str, float]], tag: str = "langmix") -> str:
    """TREC run text: ``qid Q0 docid rank score tag`` per line, ranked in trec_eval's order (score
    descending, ties by doc id descending) so the rank column agrees with how trec_eval reads the file.
    Scores are written with repr(float), which reads back to the same value exactly."""
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


def read_trec_run(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a TREC run (``qid Q0 docid rank score tag``) into ``{qid: {docid: score}}``.

    A doc listed twice for one query, a wrong field count or a non-numeric score raise DataError.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "run file not found")
    run: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            parts = line.split()
            if not parts:
                continue
            record = f"line {number}"
            if len(parts) != 6:
                raise DataError(
                    path, f"expected 'qid Q0 docid rank score tag', got {len(parts)} fields", record
                )
            qid, _, doc_id, _, score, _ = parts
            try:
                value = float(score)
            except ValueError:
                raise DataError(path, f"score {score!r} is not a number", record) from None
            if math.isnan(value):
                raise DataError(path, "score is NaN", record)
            docs = run.setdefault(qid, {})
            if doc_id in docs:
                raise DataError(path, f"query {qid!r} lists doc {doc_id!r} twice", record)
            docs[doc_id] = value
    return run


def run_from_rankings(rankings: Mapping[str, Iterable[tuple[str, float]]]) -> dict[str, dict[str, float]]:
    """``{qid: [(docid, score), ...]}`` → ``{qid: {docid: score}}`` (ids validated as TREC-writable)."""
    run: dict[str, dict[str, float]] = {}
    for qid, docs in rankings.items():
        check_id(qid, "<run>", "query", "query id")
        run[qid] = {doc_id: float(score) for doc_id, score in docs}
    return run
