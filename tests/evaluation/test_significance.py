"""The paired test on constructed data: identical runs are never significant, a shift is."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from langmix.evaluation.significance import paired_test, per_query_setting_ap, seed_comparison


def test_identical_runs_are_not_significant():
    ap = np.random.default_rng(0).uniform(size=500)
    result = paired_test(ap, ap.copy())
    assert result.p_value == 1.0 and result.delta == 0 and not result.significant()


def test_noise_only_difference_is_not_significant():
    rng = np.random.default_rng(1)
    a = rng.uniform(size=400)
    b = a + rng.normal(0, 0.05, size=400) * rng.choice([-1, 1], size=400)
    assert paired_test(a, b, seed=3).p_value > 0.05


def test_shifted_run_is_significant_and_agrees_with_t_test():
    rng = np.random.default_rng(2)
    a = rng.uniform(0.2, 0.8, size=300)
    b = np.clip(a + 0.03 + rng.normal(0, 0.05, size=300), 0, 1)
    result = paired_test(a, b)
    assert result.significant(0.001) and result.delta > 0
    # with 300 queries the randomisation test and the paired t-test agree on "clearly significant"
    assert stats.ttest_rel(b, a).pvalue < 0.001
    assert result.delta == pytest.approx(np.mean(b - a))


def test_nan_queries_are_dropped_pairwise():
    a = np.array([0.5, np.nan, 0.2, 0.9])
    b = np.array([0.5, 0.4, np.nan, 0.9])
    assert paired_test(a, b).n == 2


def test_per_query_setting_ap():
    per_query = {
        "q_lang": np.array([0, 1]),
        "pair_map": np.array([[1.0, 0.5, np.nan], [0.25, 0.5, 0.75]]),
        "mul_map": np.array([0.3, 0.4]),
    }
    out = per_query_setting_ap(per_query)
    assert out["mo"].tolist() == [1.0, 0.5]
    assert out["cr"].tolist() == [0.5, 0.5]
    assert out["mul"].tolist() == [0.3, 0.4]


def test_seed_comparison_hand_computed():
    a, b = np.array([0.70, 0.72, 0.74]), np.array([0.75, 0.77, 0.79])
    result = seed_comparison(a, b)
    assert result.delta == pytest.approx(0.05)
    assert result.seed_sd == pytest.approx(0.02)  # both have sample std 0.02
    assert result.delta_in_sd == pytest.approx(2.5)
    # Welch with equal variances and sizes: t = 0.05 / sqrt(2 * 0.02**2 / 3), df = 4
    t = 0.05 / np.sqrt(2 * 0.02**2 / 3)
    assert result.p_value == pytest.approx(2 * stats.t.sf(t, 4))


def test_seed_comparison_noise_is_not_significant_and_one_seed_gives_no_test():
    assert seed_comparison([0.70, 0.74, 0.72], [0.74, 0.70, 0.72]).p_value == pytest.approx(1.0)
    single = seed_comparison([0.7], [0.8])
    assert single.delta == pytest.approx(0.1) and np.isnan(single.p_value) and np.isnan(single.seed_sd)
