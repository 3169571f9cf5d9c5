"""Language-bias metrics (SPEC §4.3): hand-made rankings with hand-computed values, ties included, and
agreement with a plain full sort on a real XQuAD-R slice."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console
from sentence_transformers import SentenceTransformer
from tests.helpers import toy_lareqa_set

from langmix.data.lareqa import load_lareqa
from langmix.evaluation.api import LareqaOptions, LareqaRun, encode_lareqa
from langmix.evaluation.lareqa import LareqaResult, evaluate_embeddings
from langmix.evaluation.lareqa_run import write_lareqa_run
from langmix.evaluation.ranking import max_rank, own_language_top_k, preference
from langmix.models.encoder import Encoder, EncodeStats
from langmix.reports.compare import compare_table
from langmix.reports.lareqa import console_table, markdown, report_files

NAN = float("nan")


def _own(row: list[int]) -> np.ndarray:
    return np.array([row], dtype=bool)


def test_own_share_without_ties():
    scores = np.array([[0.9, 0.8, 0.7, 0.6]], np.float32)
    share = own_language_top_k(scores, _own([1, 0, 1, 0]), np.array([[-1]]), ks=(1, 2, 3, 10))
    assert share[0].tolist() == pytest.approx([1, 1 / 2, 2 / 3, 2 / 4])  # k > pool: the whole pool


def test_own_share_ties_share_the_slots_left():
    # top 2: 0.9 (other language), then one slot shared by three tied candidates, one of them own
    scores = np.array([[0.9, 0.5, 0.5, 0.5, 0.1]], np.float32)
    share = own_language_top_k(scores, _own([0, 1, 0, 0, 1]), np.array([[-1]]), ks=(1, 2, 4))
    assert share[0].tolist() == pytest.approx([0, (1 / 3) / 2, 1 / 4])  # top 4: 0.9 and all three


def test_own_share_ties_rank_relevant_candidates_last():
    scores = np.full((1, 4), 0.5, np.float32)
    own = _own([1, 1, 0, 0])
    # candidate 0 (own) is relevant: the non-relevant 1 (own), 2 and 3 share the two slots
    assert own_language_top_k(scores, own, np.array([[0]]), ks=(2,))[0, 0] == pytest.approx((2 / 3) / 2)
    # relevant 0 (own) and 2 (other): non-relevant 1 (own) and 3 fill two slots, the third is shared
    assert own_language_top_k(scores, own, np.array([[0, 2]]), ks=(3,))[0, 0] == pytest.approx(1.5 / 3)
    assert own_language_top_k(scores, own, np.array([[0, 2]]), ks=(1,))[0, 0] == pytest.approx(1 / 2)


def test_own_share_rows_are_independent():
    scores = np.array([[0.1, 0.9, 0.5], [0.5, 0.5, 0.2]], np.float32)
    own = np.array([[0, 1, 0], [1, 0, 0]], dtype=bool)
    share = own_language_top_k(scores, own, np.array([[-1], [1]]), ks=(1, 2))
    np.testing.assert_allclose(share, [[1, 1 / 2], [1, 1 / 2]])  # row 2: 1 is relevant, so 0 comes first


def test_max_rank_and_preference_hand_cases():
    assert max_rank(np.array([[1, 3, 30], [4, 4, 0]])).tolist() == [30, 4]
    rel_scores = np.array([[0.9, 0.5, -np.inf, 0.9], [0.2, 0.4, 0.6, 0.4]])
    pref = preference(rel_scores, np.array([0, 1]))
    np.testing.assert_array_equal(pref, [[NAN, 0, NAN, 0.5], [0, NAN, 1, 0.5]])


def _toy_result() -> LareqaResult:
    q = np.array(
        [
            [0.9, 0.5, 0.2, 0.4, 0.6, 0.1],  # a-en: pooled a-en(1) b-de b-en a-de(4): Max@R 4, de below en
            [0, 1, 0, 0, 0, 0],  # b-en: b-en(1), the other five tie at 0: b-de pessimistic rank 6
            [0, 0, 0, 1, 0, 0],  # a-de: a-de(1), a-en rank 6
            [0, 0.8, 0, 0, 0.8, 0],  # b-de: b-en and b-de tie first: both rank 2, top 1 shared
        ],
        np.float32,
    )
    return evaluate_embeddings(toy_lareqa_set(), q, np.eye(6, dtype=np.float32))


def test_bias_summary_on_hand_made_pool():
    bias = _toy_result().bias()
    assert bias["unbiased_share"] == {"en": 0.5, "de": 0.5}
    assert bias["own@1"] == pytest.approx({"en": 1.0, "de": 0.75, "mean": 0.875})
    assert bias["own@1_ratio"] == pytest.approx({"en": 2.0, "de": 1.5, "mean": 1.75})
    assert bias["own@10"] == pytest.approx({"en": 0.5, "de": 0.5, "mean": 0.5})  # top 10 of 6 = the pool
    assert bias["own@10_ratio"]["mean"] == pytest.approx(1.0)
    assert bias["max_rank"] == pytest.approx({"en": 5.0, "de": 4.0, "mean": 4.5})  # en 4, 6; de 6, 2
    assert bias["max_rank_median"] == pytest.approx({"en": 5.0, "de": 4.0, "mean": 4.5})
    assert bias["complete@10"]["mean"] == 1.0
    pref = bias["preference"]
    np.testing.assert_array_equal(pref["share"], [[NAN, 0.0], [0.25, NAN]])  # de: 0 and a tie (0.5)
    assert pref["count"] == [[0, 2], [2, 0]] and pref["mean"] == pytest.approx(0.125)


def test_complete_at_k_and_median_from_max_ranks():
    per_query = {
        "q_lang": np.array([0, 0, 0, 1]),
        "mul_max_rank": np.array([5.0, 15.0, 150.0, 10.0]),
        "mul_own@1": np.zeros(4),
        "mul_own@10": np.zeros(4),
        "mul_preference": np.full((4, 2), np.nan),
    }
    result = LareqaResult("t", ("en", "de"), {}, np.zeros((2, 2)), {}, per_query, 8, np.array([0.5, 0.5]))
    bias = result.bias()
    assert bias["complete@10"] == pytest.approx({"en": 1 / 3, "de": 1.0, "mean": 2 / 3})
    assert bias["complete@20"] == pytest.approx({"en": 2 / 3, "de": 1.0, "mean": 5 / 6})
    assert bias["complete@100"] == pytest.approx({"en": 2 / 3, "de": 1.0, "mean": 5 / 6})
    assert bias["max_rank"]["en"] == pytest.approx(170 / 3)
    assert bias["max_rank_median"] == pytest.approx({"en": 15.0, "de": 10.0, "mean": 12.5})
    assert np.isnan(bias["preference"]["mean"])


@pytest.fixture(scope="module")
def tiny_slice(tiny_model_dir, data_dir):
    """3 languages x 20 questions against their full pools, embedded by the tiny model."""
    data = load_lareqa("xquad-r", languages=["en", "de", "es"], data_root=data_dir, max_questions=20)
    encoder = Encoder(SentenceTransformer(str(tiny_model_dir), device="cpu"), use_cache=False)
    q, c, _ = encode_lareqa(encoder, data)
    return data, np.ascontiguousarray(q, np.float32), np.ascontiguousarray(c, np.float32)


def test_bias_agrees_with_a_full_sort_on_real_data(tiny_slice):
    data, q, c = tiny_slice
    result = evaluate_embeddings(data, q, c, chunk_size=data.n_questions)  # the same score matrix
    scores, rel = q @ c.T, data.relevant()
    boundary_ties = 0
    for i in range(data.n_questions):
        order = np.argsort(-scores[i], kind="stable")
        ranked = -scores[i][order]
        # pessimistic rank of each relevant candidate: candidates scoring at least as high
        ranks = np.searchsorted(ranked, -scores[i][rel[i][rel[i] >= 0]], side="right")
        assert result.per_query["mul_max_rank"][i] == ranks.max()
        for k in (10, 20, 100):
            assert (result.per_query["mul_max_rank"][i] <= k) == (ranks.max() <= k)
        for k in (1, 10):
            own = (data.c_lang[order[:k]] == data.q_lang[i]).mean()
            if ranked[k - 1] == ranked[k]:
                boundary_ties += 1  # the top k is not one set: the shared-slot rule decides
                continue
            assert result.per_query[f"mul_own@{k}"][i] == pytest.approx(own, abs=1e-12)
    assert boundary_ties <= data.n_questions // 10
    bias = result.bias()
    assert 0 < bias["own@10"]["mean"] < 1 and bias["preference"]["count"][0][1] == 20


def test_run_folder_report_and_compare_show_bias(tiny_slice, tmp_path):
    data, q, c = tiny_slice
    run = LareqaRun(evaluate_embeddings(data, q, c), data, LareqaOptions(), EncodeStats(), "f")
    doc = write_lareqa_run(run, {"name": "tiny"}, tmp_path / "a", render=report_files)
    saved = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert saved["bias"]["own@10"]["mean"] == pytest.approx(run.result.bias()["own@10"]["mean"], abs=1e-6)
    assert saved["bias"]["preference"]["share"][0][0] is None  # the diagonal is undefined
    assert (tmp_path / "a" / "heatmap_preference.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Language bias (Mul. setting)" in markdown(doc) and "Max@R median" in markdown(doc)
    assert "own@10" in console_table(doc).caption
    # a run written before the bias metrics: compared on the headline only, and its report has no section
    old = {k: v for k, v in saved.items() if k != "bias"}
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "metrics.json").write_text(json.dumps(old))
    assert "Language bias" not in markdown(old) and "heatmap_preference.png" not in report_files(old)
    out = Console(width=250, record=True, file=io.StringIO())
    out.print(compare_table([tmp_path / "a", tmp_path / "a"]))
    shown = out.export_text()  # and clears the record
    assert "language bias" in shown and "C@20" in shown
    out.print(compare_table([tmp_path / "a", tmp_path / "old"]))
    assert "Mul. mAP" in (shown := out.export_text()) and "language bias" not in shown
