"""Score TREC runs with pytrec_eval under trec_eval ``-c`` semantics (files: :mod:`langmix.data.runfiles`).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from langmix.data.beir import Qrels
from langmix.data.runfiles import trec_order
from langmix.errors import LangmixError

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
