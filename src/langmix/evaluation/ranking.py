"""Ranks of relevant candidates without sorting the pool.

AP, R@k and rank distance only need, for every relevant candidate, how many candidates score at
least as high as it. Counting that per language block once lets every setting (Mo., Cr., Mul.) be
read off the same counts: a pool that is one language uses one block, the pooled setting sums them.

Ties are broken pessimistically: a relevant candidate is ranked below every candidate with an
equal score. This is exactly what sklearn's ``average_precision_score`` does (it groups tied
scores into one threshold), so AP here equals sklearn's on the same pool, ties included.
"""

from __future__ import annotations

import numpy as np


def count_at_least(
    scores: np.ndarray, rel_index: np.ndarray, block_bounds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For a chunk of queries, count candidates scoring >= each relevant candidate, per block.

    scores: ``(m, n_candidates)`` similarity of each query with every candidate.
    rel_index: ``(m, r)`` candidate index of each relevant slot, -1 where absent.
    block_bounds: ``(n_blocks + 1,)`` start offsets of contiguous candidate blocks (languages).
    Returns ``(counts, rel_scores)``: counts ``(m, r, n_blocks)`` int32 (0 for absent slots) and the
    relevant candidates' scores ``(m, r)`` (-inf where absent).
    """
    m, r = rel_index.shape
    present = rel_index >= 0
    rel_scores = np.take_along_axis(scores, np.where(present, rel_index, 0), axis=1)
    threshold = np.where(present, rel_scores, np.inf).astype(scores.dtype)
    n_blocks = len(block_bounds) - 1
    counts = np.zeros((m, r, n_blocks), dtype=np.int32)
    for b in range(n_blocks):
        block = scores[:, block_bounds[b] : block_bounds[b + 1]]
        counts[:, :, b] = (block[:, None, :] >= threshold[:, :, None]).sum(axis=2)
    return counts, np.where(present, rel_scores, -np.inf)


def single_relevant_metrics(rank: np.ndarray, ks: tuple[int, ...] = (1, 10), cutoff: int = 20) -> dict:
    """Metrics for pools with exactly one relevant candidate, from its (1-based) rank."""
    rank = np.asarray(rank, dtype=np.float64)
    out = {"ap": 1.0 / rank, f"ap@{cutoff}": np.where(rank <= cutoff, 1.0 / rank, 0.0)}
    for k in ks:
        out[f"r@{k}"] = (rank <= k).astype(np.float64)
    return out


def multi_relevant_metrics(
    ranks: np.ndarray, rel_scores: np.ndarray, ks: tuple[int, ...] = (1, 10), cutoff: int = 20
) -> dict:
    """Metrics for pools with several relevant candidates per query.

    ranks: ``(n, r)`` 1-based pessimistic rank of each relevant slot in the pool, 0 where absent.
    rel_scores: ``(n, r)`` their scores, -inf where absent.
    AP = mean over relevant of precision at its rank; capped recall R@k = hits / min(k, n_relevant);
    AP@cutoff (XTREME-R) = sum of precision at relevant hits within the cutoff / min(cutoff, n_relevant);
    rank distance = highest - lowest rank among the relevant candidates.
    """
    present = ranks > 0
    n_rel = present.sum(axis=1)
    # relevant candidates scoring >= this one (itself included): the precision numerator at its rank
    rel_ge = ((rel_scores[:, None, :] >= rel_scores[:, :, None]) & present[:, None, :]).sum(axis=2)
    safe = np.where(present, ranks, 1).astype(np.float64)
    precision = np.where(present, rel_ge / safe, 0.0)
    out = {
        "ap": precision.sum(axis=1) / n_rel,
        f"ap@{cutoff}": np.where(present & (ranks <= cutoff), precision, 0.0).sum(axis=1)
        / np.minimum(cutoff, n_rel),
    }
    for k in ks:
        out[f"r@{k}"] = (present & (ranks <= k)).sum(axis=1) / np.minimum(k, n_rel)
    high = np.where(present, ranks, np.iinfo(np.int32).min).max(axis=1)
    low = np.where(present, ranks, np.iinfo(np.int32).max).min(axis=1)
    out["rank_distance"] = (high - low).astype(np.float64)
    return out


def own_language_top_k(
    scores: np.ndarray, own: np.ndarray, rel_index: np.ndarray, ks: tuple[int, ...] = (1, 10)
) -> np.ndarray:
    """Share of each query's top k that is in its own language, for each k (no full sort).

    scores: ``(m, n)`` as for :func:`count_at_least`; own: ``(m, n)`` bool, candidate in the query's
    language; rel_index: ``(m, r)`` relevant candidates (-1 absent). Returns ``(m, len(ks))``.
    The top k is read off one ``np.argpartition``. When candidates tie at the k-th score, the slots left
    go first to the tied non-relevant candidates, then to the tied relevant ones (the pessimistic rule
    of the ranks), each group sharing its slots in proportion: the expected share under a random order
    of tied candidates, so no language gains from where it sits in the pool.
    """
    m, n = scores.shape
    # the top K = max(k) + 1 by one argpartition, then sorted: the k-th and (k+1)-th largest scores are
    # equal exactly when ties cross the top-k boundary
    top_n = min(max(ks) + 1, n)
    top = np.argpartition(scores, n - top_n, axis=1)[:, n - top_n :]
    top_scores = np.take_along_axis(scores, top, axis=1)
    by_score = np.argsort(-top_scores, axis=1, kind="stable")
    top, top_scores = (
        np.take_along_axis(top, by_score, axis=1),
        np.take_along_axis(top_scores, by_score, axis=1),
    )
    out = np.zeros((m, len(ks)))
    for col, k in enumerate(min(k, n) for k in ks):
        out[:, col] = np.take_along_axis(own, top[:, :k], axis=1).sum(axis=1)
        if k < n:
            tied = np.flatnonzero(top_scores[:, k] == top_scores[:, k - 1])
            kth = top_scores[tied, k - 1]
            out[tied, col] = _tied_own_count(scores[tied], own[tied], rel_index[tied], kth, k)
        out[:, col] /= k
    return out


def _tied_own_count(
    scores: np.ndarray, own: np.ndarray, rel_index: np.ndarray, kth: np.ndarray, k: int
) -> np.ndarray:
    """Own-language count of the top k where candidates tie at the k-th score (see own_language_top_k)."""
    relevant = np.zeros(scores.shape, dtype=bool)
    rows, slots = np.nonzero(rel_index >= 0)
    relevant[rows, rel_index[rows, slots]] = True
    above = scores > kth[:, None]
    tie = scores == kth[:, None]
    left = k - above.sum(axis=1)
    count = (above & own).sum(axis=1).astype(np.float64)
    for group in (tie & ~relevant, tie & relevant):
        size = group.sum(axis=1)
        take = np.minimum(left, size)
        count += take * (group & own).sum(axis=1) / np.maximum(size, 1)
        left = left - take
    return count


def max_rank(ranks: np.ndarray) -> np.ndarray:
    """Max@R: the pooled rank of each query's last relevant candidate (``ranks`` as for
    :func:`multi_relevant_metrics`, 0 where absent)."""
    return ranks.max(axis=1).astype(np.float64)


def preference(rel_scores: np.ndarray, own_slot: np.ndarray) -> np.ndarray:
    """``(n, r)``: 1 where slot j's relevant candidate scores above the query's own-language one, 0.5 on an
    exact tie, 0 below; NaN for the own slot and absent slots (``rel_scores`` -inf)."""
    own = rel_scores[np.arange(len(rel_scores)), own_slot][:, None]
    out = (rel_scores > own) + 0.5 * (rel_scores == own)
    absent = ~np.isfinite(rel_scores)
    absent[np.arange(len(rel_scores)), own_slot] = True
    return np.where(absent, np.nan, out)
