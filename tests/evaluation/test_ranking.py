"""AP / R@k / mAP@20 / rank distance against sklearn and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from tests.helpers import toy_lareqa_set

from langmix.data.lareqa import load_lareqa
from langmix.evaluation.lareqa import evaluate_embeddings
from langmix.evaluation.ranking import multi_relevant_metrics, single_relevant_metrics


@pytest.fixture(scope="module")
def xquad_slice(data_dir):
    # 25 questions per language, but the FULL 13,014-candidate pool
    return load_lareqa("xquad-r", data_root=data_dir, max_questions=25)


def _check_against_sklearn(data, q, c, result):
    rel = data.relevant()
    scores = q @ c.T  # integer-valued vectors: exact, so ties are the same ties sklearn sees
    checked = 0
    for i in range(data.n_questions):
        y = np.zeros(data.n_candidates)
        y[rel[i][rel[i] >= 0]] = 1
        assert result.per_query["mul_map"][i] == pytest.approx(
            average_precision_score(y, scores[i]), abs=1e-12
        )
        for lang in range(len(data.languages)):
            pool = data.c_lang == lang
            expected = average_precision_score(y[pool], scores[i][pool])
            assert result.per_query["pair_map"][i, lang] == pytest.approx(expected, abs=1e-12)
            checked += 1
    return checked


def test_ap_equals_sklearn_random_scores_with_ties(xquad_slice):
    rng = np.random.default_rng(0)
    # few distinct values per dimension: thousands of exact ties in every pool
    q = rng.integers(-2, 3, (xquad_slice.n_questions, 3)).astype(np.float32)
    c = rng.integers(-2, 3, (xquad_slice.n_candidates, 3)).astype(np.float32)
    result = evaluate_embeddings(xquad_slice, q, c)
    assert _check_against_sklearn(xquad_slice, q, c, result) == 25 * 11 * 11


def test_ap_equals_sklearn_adversarial_scores(xquad_slice):
    data = xquad_slice
    rel = data.relevant()
    # relevant candidates of even questions score lowest, odd questions tie with every candidate
    c = np.ones((data.n_candidates, 2), np.float32)
    q = np.zeros((data.n_questions, 2), np.float32)
    q[:, 0] = 1
    for i in range(0, data.n_questions, 2):
        c[rel[i], 1] = -5
        q[i, 1] = 1
    result = evaluate_embeddings(data, q, c)
    _check_against_sklearn(data, q, c, result)
    # all-tied pool: pessimistic rank = pool size, AP = 11 / 13,014 in the pooled setting
    assert result.per_query["mul_map"][1] == pytest.approx(11 / data.n_candidates)


def test_perfect_and_worst_rankings(xquad_slice):
    data = xquad_slice
    rel = data.relevant()
    c = np.zeros((data.n_candidates, data.n_questions + 1), np.float32)
    c[:, -1] = 1
    q = np.eye(data.n_questions, data.n_questions + 1, dtype=np.float32)
    for i in range(data.n_questions):
        c[rel[i], i] = 5 + np.arange(len(data.languages))  # relevant sentences: 5, 6, ... 15; others 0
    # a sentence relevant to several selected questions would compete; XQuAD-R ids are distinct
    perfect = evaluate_embeddings(data, q, c)
    for setting in ("mo", "cr", "mul"):
        assert perfect.summary()[setting]["map"]["mean"] == pytest.approx(1.0)
        assert perfect.summary()[setting]["r@1"]["mean"] == pytest.approx(1.0)
    assert perfect.summary()["mul"]["rank_distance"]["mean"] == pytest.approx(10.0)  # ranks 1..11


def test_single_relevant_hand_cases():
    m = single_relevant_metrics(np.array([1, 2, 10, 11, 21]))
    assert m["ap"].tolist() == [1, 0.5, 0.1, 1 / 11, 1 / 21]
    assert m["ap@20"].tolist() == [1, 0.5, 0.1, 1 / 11, 0]
    assert m["r@1"].tolist() == [1, 0, 0, 0, 0]
    assert m["r@10"].tolist() == [1, 1, 1, 0, 0]


def test_multi_relevant_hand_case():
    # 3 relevant at ranks 1, 3, 30 (distinct scores) and a query with 2 relevant tied at rank 4
    ranks = np.array([[1, 3, 30], [4, 4, 0]])
    scores = np.array([[0.9, 0.8, 0.1], [0.5, 0.5, -np.inf]])
    m = multi_relevant_metrics(ranks, scores)
    assert m["ap"][0] == pytest.approx((1 / 1 + 2 / 3 + 3 / 30) / 3)
    assert m["ap@20"][0] == pytest.approx((1 + 2 / 3) / 3)
    assert m["r@1"][0] == pytest.approx(1 / 1)
    assert m["r@10"][0] == pytest.approx(2 / 3)
    assert m["rank_distance"][0] == 29
    assert m["ap"][1] == pytest.approx(2 / 4)  # both at the threshold: precision 2/4 each
    assert m["r@1"][1] == 0 and m["r@10"][1] == 1
    assert m["rank_distance"][1] == 0


def test_rank_distance_and_settings_on_hand_made_pool():
    data = toy_lareqa_set()
    # question 0 (a, en) scores: a-en 0.9, b-en 0.5, x-en 0.2, a-de 0.4, b-de 0.6, x-de 0.1
    # pooled order: a-en(1) b-de(2) b-en(3) a-de(4) ... -> relevant a-en rank 1, a-de rank 4 -> distance 3
    target = np.array([0.9, 0.5, 0.2, 0.4, 0.6, 0.1], np.float32)
    c = np.eye(6, dtype=np.float32)
    q = np.zeros((4, 6), np.float32)
    q[0] = target
    q[1:] = np.eye(6, dtype=np.float32)[[1, 3, 4]]  # perfect for the other questions
    r = evaluate_embeddings(data, q, c)
    assert r.per_query["mul_rank_distance"][0] == 3
    assert r.per_query["mul_map"][0] == pytest.approx((1 / 1 + 2 / 4) / 2)
    assert r.per_query["pair_map"][0].tolist() == [1.0, 1 / 2]  # en pool: rank 1; de pool: a-de below b-de
    assert r.settings_count() == {"mo": 2, "cr": 2, "mul": 2}
    assert r.mono()["mean"] == pytest.approx(1.0)
    # question 1 (b, en) is one-hot on b-en: the whole de pool ties at 0, so b-de ranks 3rd (pessimistic)
    assert r.per_query["pair_map"][1].tolist() == [1.0, 1 / 3]
    assert r.cross()["en"] == pytest.approx((1 / 2 + 1 / 3) / 2)
