"""Paired significance of a difference in mean AP between two systems on the same queries.

The unit is the query: both systems answer the same questions, so the test is paired. We use the
paired randomisation (sign-flip permutation) test of scipy, which makes no normality or symmetry
assumption and is the usual choice in IR (Smucker et al., CIKM 2007).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from langmix.errors import LangmixError

TEST_NAME = "paired randomisation (sign-flip) test, two-sided, scipy.stats.permutation_test"


@dataclass(frozen=True)
class PairedTest:
    mean_a: float
    mean_b: float
    delta: float  # mean_b - mean_a
    p_value: float
    n: int

    def significant(self, level: float = 0.05) -> bool:
        return self.p_value < level


def paired_test(a: np.ndarray, b: np.ndarray, *, n_resamples: int = 9_999, seed: int = 0) -> PairedTest:
    """Two-sided paired randomisation test of mean(b - a) = 0 over the queries where both are defined."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise LangmixError(f"paired test needs the same queries: got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 2:
        raise LangmixError("paired test needs at least two queries scored by both systems")
    diff = b - a
    if np.allclose(diff, 0):
        return PairedTest(float(a.mean()), float(b.mean()), 0.0, 1.0, len(a))
    result = stats.permutation_test(
        (diff,),
        lambda d, axis: np.mean(d, axis=axis),
        permutation_type="samples",
        n_resamples=n_resamples,
        alternative="two-sided",
        vectorized=True,
        random_state=seed,
    )
    return PairedTest(float(a.mean()), float(b.mean()), float(diff.mean()), float(result.pvalue), len(a))


SEED_TEST_NAME = "Welch's t-test on the per-seed macro mAP, scipy.stats.ttest_ind(equal_var=False)"


@dataclass(frozen=True)
class SeedComparison:
    """Is a difference larger than what retraining with another seed moves? (the per-query test cannot say)"""

    delta: float  # mean(b) - mean(a) over seeds
    seed_sd: float  # pooled std of one seed's score: sqrt((var_a + var_b) / 2), ddof=1
    delta_in_sd: float  # delta / seed_sd (nan when seed_sd is 0)
    p_value: float  # nan with fewer than two seeds per system
    n_seeds: tuple[int, int]  # seeds of (a, b)


def seed_comparison(a: np.ndarray, b: np.ndarray) -> SeedComparison:
    """Compare two systems by their per-seed scores (one value per training seed)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        raise LangmixError("seed comparison needs at least one seed per system")
    delta = float(b.mean() - a.mean())
    if len(a) < 2 or len(b) < 2:
        return SeedComparison(delta, float("nan"), float("nan"), float("nan"), (len(a), len(b)))
    sd = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))
    if sd == 0:  # every seed scored the same: no t statistic; equal means are plainly no difference
        p = 1.0 if delta == 0 else float("nan")
        return SeedComparison(delta, 0.0, float("nan"), p, (len(a), len(b)))
    p = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    return SeedComparison(delta, sd, delta / sd, p, (len(a), len(b)))


def per_query_setting_ap(per_query: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-query AP of each headline setting, from a run's ``per_query.npz`` arrays.

    Mo.: AP in the query's own-language pool; Cr.: the query's mean AP over the other-language
    pools that hold its answer; Mul.: AP in the pooled setting.
    """
    pair = np.asarray(per_query["pair_map"], float)
    lang = np.asarray(per_query["q_lang"], int)
    rows = np.arange(len(lang))
    mono = pair[rows, lang]
    others = pair.copy()
    others[rows, lang] = np.nan
    n_other = np.isfinite(others).sum(axis=1)
    cross = np.where(n_other > 0, np.nansum(others, axis=1) / np.maximum(n_other, 1), np.nan)
    return {"mo": mono, "cr": cross, "mul": np.asarray(per_query["mul_map"], float)}
