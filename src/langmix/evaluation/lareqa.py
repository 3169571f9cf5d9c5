"""The LAReQA protocol (SPEC §4.1) on embeddings: Mo., Cr. and Mul. settings from one scoring pass.

Every question is scored once against the whole multilingual pool; per-language-block rank counts
(:func:`~langmix.evaluation.ranking.count_at_least`) then give every query-language x
corpus-language setting and the pooled setting without re-encoding or re-scoring anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from langmix.data.lareqa import LareqaSet
from langmix.errors import LangmixError
from langmix.evaluation.ranking import (
    count_at_least,
    max_rank,
    multi_relevant_metrics,
    own_language_top_k,
    preference,
    single_relevant_metrics,
)
from langmix.progress import SILENT, ProgressSink

METRICS = ("map", "map@20", "r@1", "r@10")
_PER_QUERY = {"map": "ap", "map@20": "ap@20", "r@1": "r@1", "r@10": "r@10"}
OWN_KS = (1, 10)  # own-language share of the top k (SPEC §4.3)
COMPLETE_KS = (10, 20, 100)  # Complete@k


@dataclass
class LareqaResult:
    """Per-query and aggregated metrics of one model on one LAReQA set.

    ``pair[m][i, j]``: mean metric ``m`` of queries in language i against the pool of language j
    (NaN where no question exists in both); ``mul[m][i]``: queries of language i against the pool
    of all languages. ``per_query`` keeps every query's numbers (for significance tests).
    """

    dataset: str
    languages: tuple[str, ...]
    pair: dict[str, np.ndarray]
    pair_count: np.ndarray
    mul: dict[str, np.ndarray]
    per_query: dict[str, np.ndarray] = field(repr=False)
    n_candidates: int = 0
    pool_share: np.ndarray | None = None  # share of the pool in each language: the unbiased own share

    def _macro(self, values: dict[str, float]) -> dict[str, float]:
        rows = {lang: float(v) for lang, v in values.items()}
        return {**rows, "mean": float(np.mean(list(rows.values())))}

    def mono(self, metric: str = "map") -> dict[str, float]:
        m = self.pair[metric]
        return self._macro({lang: m[i, i] for i, lang in enumerate(self.languages)})

    def cross(self, metric: str = "map") -> dict[str, float]:
        """Row X = mean over target languages Y != X that share questions with X; then macro mean."""
        m = self.pair[metric]
        rows = {}
        for i, lang in enumerate(self.languages):
            cols = [j for j in range(len(self.languages)) if j != i and self.pair_count[i, j] > 0]
            if cols:
                rows[lang] = np.mean(m[i, cols])
        return self._macro(rows)

    def multi(self, metric: str = "map") -> dict[str, float]:
        return self._macro(dict(zip(self.languages, self.mul[metric], strict=True)))

    def settings_count(self) -> dict[str, int]:
        scored = self.pair_count > 0
        diagonal = int(np.trace(scored))
        return {"mo": diagonal, "cr": int(scored.sum()) - diagonal, "mul": len(self.languages)}

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """Paper-style headline: setting -> metric -> per-language rows and macro ``mean``."""
        out: dict[str, dict[str, dict[str, float]]] = {"mo": {}, "cr": {}, "mul": {}}
        for metric in METRICS:
            out["mo"][metric] = self.mono(metric)
            out["cr"][metric] = self.cross(metric)
            out["mul"][metric] = self.multi(metric)
        out["mul"]["rank_distance"] = self.multi("rank_distance")
        return out

    def _per_language(self, values: np.ndarray, reduce=np.mean) -> dict[str, float]:
        lang = self.per_query["q_lang"]
        return self._macro({x: reduce(values[lang == i]) for i, x in enumerate(self.languages)})

    def bias(self) -> dict:
        """Language bias in the Mul. setting (SPEC §4.3, docs/evaluation.md): per query language, and the
        macro mean over languages."""
        pq, langs = self.per_query, self.languages
        out: dict = {"unbiased_share": dict(zip(langs, map(float, self.pool_share), strict=True))}
        for k in OWN_KS:
            share = pq[f"mul_own@{k}"]
            out[f"own@{k}"] = self._per_language(share)
            out[f"own@{k}_ratio"] = self._macro(
                {x: out[f"own@{k}"][x] / out["unbiased_share"][x] for x in langs}
            )
        out["max_rank"] = self._per_language(pq["mul_max_rank"])
        out["max_rank_median"] = self._per_language(pq["mul_max_rank"], np.median)
        for k in COMPLETE_KS:
            out[f"complete@{k}"] = self._per_language((pq["mul_max_rank"] <= k).astype(np.float64))
        out["preference"] = self._preference_matrix()
        return out

    def _preference_matrix(self) -> dict:
        """``share[X][Y]``: mean over queries in X with a Y answer of "Y answer above the X answer"."""
        pref, lang = self.per_query["mul_preference"], self.per_query["q_lang"]
        n = len(self.languages)
        share, count = np.full((n, n), np.nan), np.zeros((n, n), dtype=np.int64)
        for i in range(n):
            rows = pref[lang == i]
            count[i] = np.isfinite(rows).sum(axis=0)
            has = count[i] > 0
            share[i, has] = np.nanmean(rows[:, has], axis=0)
        off = ~np.eye(n, dtype=bool) & (count > 0)
        return {
            "languages": list(self.languages),
            "share": share.tolist(),
            "count": count.tolist(),
            "mean": float(share[off].mean()) if off.any() else float("nan"),
        }


def _check_embeddings(data: LareqaSet, q_emb: np.ndarray, c_emb: np.ndarray) -> None:
    if q_emb.shape[0] != data.n_questions or c_emb.shape[0] != data.n_candidates:
        raise LangmixError(
            f"embeddings do not match {data.name}: got {q_emb.shape[0]} question and {c_emb.shape[0]} "
            f"candidate rows, expected {data.n_questions} and {data.n_candidates}"
        )
    if q_emb.ndim != 2 or c_emb.ndim != 2 or q_emb.shape[1] != c_emb.shape[1]:
        raise LangmixError(f"embedding shapes {q_emb.shape} and {c_emb.shape} are not (n, dim) of one dim")
    if not (np.isfinite(q_emb).all() and np.isfinite(c_emb).all()):
        raise LangmixError("embeddings contain NaN or inf")
    if np.any(np.diff(data.c_lang) < 0):
        raise LangmixError("candidates must be grouped by language (as load_lareqa returns them)")


def _rank_counts(
    data: LareqaSet,
    q_emb: np.ndarray,
    c_emb: np.ndarray,
    rel: np.ndarray,
    chunk_size: int,
    progress: ProgressSink,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per question and language block: rank counts of each relevant answer, its score, and the
    own-language share of the pooled top k for each k of ``OWN_KS`` (one scoring pass)."""
    n_lang, nq = len(data.languages), data.n_questions
    bounds = np.searchsorted(data.c_lang, np.arange(n_lang + 1))
    counts = np.zeros((nq, n_lang, n_lang), dtype=np.int32)
    rel_scores = np.zeros((nq, n_lang), dtype=np.float32)
    own_share = np.zeros((nq, len(OWN_KS)))
    with progress.task(f"scoring {data.name} settings", total=nq) as advance:
        for start in range(0, nq, chunk_size):
            stop = min(start + chunk_size, nq)
            scores = q_emb[start:stop] @ c_emb.T
            counts[start:stop], rel_scores[start:stop] = count_at_least(scores, rel[start:stop], bounds)
            own = data.c_lang[None, :] == data.q_lang[start:stop, None]
            own_share[start:stop] = own_language_top_k(scores, own, rel[start:stop], OWN_KS)
            advance(stop - start)
    return counts, rel_scores, own_share


def _pair_metrics(
    data: LareqaSet, counts: np.ndarray, present: np.ndarray, per_query: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Mo./Cr.: each query language against each corpus language's pool (adds ``pair_*`` to per_query)."""
    n_lang = len(data.languages)
    lang_idx = np.arange(n_lang)
    own_block = counts[:, lang_idx, lang_idx]  # rank of the language-j answer within language j's pool
    single = single_relevant_metrics(np.where(present, own_block, 1))
    pair: dict[str, np.ndarray] = {}
    pair_count = np.zeros((n_lang, n_lang), dtype=np.int64)
    for i in range(n_lang):
        pair_count[i] = present[data.q_lang == i].sum(axis=0)
    for metric in METRICS:
        values = np.where(present, single[_PER_QUERY[metric]], np.nan)
        per_query[f"pair_{metric}"] = values
        pair[metric] = np.full((n_lang, n_lang), np.nan)
        for i in range(n_lang):
            rows = values[data.q_lang == i]
            has = pair_count[i] > 0
            pair[metric][i, has] = np.nanmean(rows[:, has], axis=0)
    return pair, pair_count


def _pooled_metrics(
    data: LareqaSet,
    counts: np.ndarray,
    rel_scores: np.ndarray,
    present: np.ndarray,
    per_query: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Mul.: each query against the pool of all languages (adds ``mul_*`` to per_query)."""
    pooled = multi_relevant_metrics(
        np.where(present, counts.sum(axis=2), 0), np.where(present, rel_scores, -np.inf)
    )
    mul: dict[str, np.ndarray] = {}
    for metric in (*METRICS, "rank_distance"):
        values = pooled[_PER_QUERY.get(metric, metric)]
        per_query[f"mul_{metric}"] = values
        mul[metric] = np.array([values[data.q_lang == i].mean() for i in range(len(data.languages))])
    per_query["mul_max_rank"] = max_rank(np.where(present, counts.sum(axis=2), 0))
    per_query["mul_preference"] = preference(np.where(present, rel_scores, -np.inf), data.q_lang)
    return mul


def evaluate_embeddings(
    data: LareqaSet,
    q_emb: np.ndarray,
    c_emb: np.ndarray,
    *,
    chunk_size: int = 256,
    progress: ProgressSink = SILENT,
) -> LareqaResult:
    """Score every setting of the LAReQA protocol from question and candidate embeddings.

    Embeddings are compared by dot product: pass L2-normalised vectors for cosine similarity. Progress is
    the task ``scoring <set> settings`` (questions scored).
    """
    q_emb = np.ascontiguousarray(q_emb, dtype=np.float32)
    c_emb = np.ascontiguousarray(c_emb, dtype=np.float32)
    _check_embeddings(data, q_emb, c_emb)
    rel = data.relevant()
    counts, rel_scores, own_share = _rank_counts(data, q_emb, c_emb, rel, chunk_size, progress)
    present = rel >= 0
    per_query: dict[str, np.ndarray] = {"q_lang": data.q_lang, "q_id": np.asarray(data.q_id)}
    pair, pair_count = _pair_metrics(data, counts, present, per_query)
    mul = _pooled_metrics(data, counts, rel_scores, present, per_query)
    per_query.update({f"mul_own@{k}": own_share[:, col] for col, k in enumerate(OWN_KS)})
    return LareqaResult(
        dataset=data.name,
        languages=data.languages,
        pair=pair,
        pair_count=pair_count,
        mul=mul,
        per_query=per_query,
        n_candidates=data.n_candidates,
        pool_share=np.bincount(data.c_lang, minlength=len(data.languages)) / data.n_candidates,
    )
