"""trec_eval -c semantics on the real MIRACL dev qrels with constructed runs, and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from langmix.data.miracl import MIRACL_LANGUAGES, load_miracl_topics
from langmix.data.runfiles import format_trec_run, read_trec_run, trec_order, write_trec_run
from langmix.errors import DataError, LangmixError
from langmix.evaluation.trec import DEFAULT_METRICS, evaluate_run, parse_metric


@pytest.fixture(scope="module")
def miracl(data_dir):
    return {lang: load_miracl_topics(lang, data_dir) for lang in MIRACL_LANGUAGES}


def perfect_run(judgments):
    """Relevant docs first (higher grade first), then judged non-relevant ones."""
    run = {}
    for qid, docs in judgments.items():
        ranked = sorted(docs, key=lambda d: -docs[d])
        run[qid] = {d: float(len(ranked) - i) for i, d in enumerate(ranked)}
    return run


def test_perfect_run_scores_one_on_every_language(miracl):
    for lang, topics in miracl.items():
        scores = evaluate_run(topics.qrels, perfect_run(topics.qrels.judgments))
        assert scores.n_queries == len(topics.queries)
        assert not scores.missing
        for metric, value in scores.mean().items():
            assert value == pytest.approx(1.0, abs=1e-12), (lang, metric)


def test_missing_queries_count_as_zero_under_c(miracl):
    qrels = miracl["sw"].qrels
    run = perfect_run(qrels.judgments)
    dropped = sorted(run)[::3]
    for qid in dropped:
        del run[qid]
    run["not-a-judged-query"] = {"x#0": 1.0}  # ignored, as trec_eval ignores unjudged queries
    scores = evaluate_run(qrels, run)
    kept = (len(qrels) - len(dropped)) / len(qrels)
    assert sorted(scores.missing) == dropped
    assert scores.ignored == ["not-a-judged-query"]
    for value in scores.mean().values():
        assert value == pytest.approx(kept, abs=1e-12)
    # pytrec_eval alone averages over the queries it saw; -c must not
    import pytrec_eval

    plain = pytrec_eval.RelevanceEvaluator(qrels.judgments, {"ndcg_cut.10"}).evaluate(run)
    assert np.mean([v["ndcg_cut_10"] for v in plain.values()]) == pytest.approx(1.0)
    # an empty ranking is the same as a missing query
    run[dropped[0]] = {}
    assert evaluate_run(qrels, run).mean()["nDCG@10"] == pytest.approx(kept)


def test_single_relevant_at_rank_r_on_real_qrels(miracl):
    """Each query's first relevant doc at rank r (r cycles 1..15), every other slot a non-judged doc.

    Expected values from the definitions: nDCG@10 = [r<=10]/log2(r+1) / sum_{i<=min(R,10)} 1/log2(i+1),
    MRR@10 = [r<=10]/r, Recall@100 = 1/R, AP = (1/r)/R, with R the query's relevant count.
    """
    qrels = miracl["yo"].qrels
    run, expected = {}, {m: [] for m in DEFAULT_METRICS}
    for i, (qid, docs) in enumerate(qrels.judgments.items()):
        relevant = [d for d, g in docs.items() if g > 0]
        r, n_rel = i % 15 + 1, len(relevant)
        ranking = [f"filler#{qid}-{j}" for j in range(r - 1)] + [relevant[0]]
        run[qid] = {d: 100.0 - j for j, d in enumerate(ranking)}
        ideal = sum(1 / math.log2(j + 1) for j in range(1, min(n_rel, 10) + 1))
        expected["nDCG@10"].append((1 / math.log2(r + 1) if r <= 10 else 0.0) / ideal)
        expected["MRR@10"].append(1 / r if r <= 10 else 0.0)
        expected["Recall@100"].append(1 / n_rel)
        expected["MAP"].append(1 / r / n_rel)
    scores = evaluate_run(qrels, run)
    for metric in DEFAULT_METRICS:
        got = [scores.per_query[q][metric] for q in qrels.judgments]
        np.testing.assert_allclose(got, expected[metric], rtol=0, atol=1e-12, err_msg=metric)


def test_hand_computed_graded_case():
    qrels = {"q1": {"a": 2, "b": 1, "c": 0, "d": 1}, "q2": {"e": 1}}
    run = {"q1": {"c": 4.0, "a": 3.0, "x": 2.0, "b": 1.0}, "q2": {"y": 1.0}}
    scores = evaluate_run(qrels, run, ["nDCG@10", "Recall@100", "MRR@10", "MAP", "P@2", "nDCG@1"])
    q1 = scores.per_query["q1"]
    # gains at ranks 1..4: 0, 2, 0 (unjudged), 1; ideal order 2, 1, 1
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert q1["nDCG@10"] == pytest.approx(dcg / idcg, abs=1e-12)
    assert q1["nDCG@10"] == pytest.approx(0.540586, abs=1e-6)  # 1.692540 / 3.130930
    assert q1["Recall@100"] == pytest.approx(2 / 3)  # d never retrieved
    assert q1["MRR@10"] == pytest.approx(1 / 2)
    assert q1["MAP"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert q1["P@2"] == pytest.approx(1 / 2)
    assert q1["nDCG@1"] == 0.0
    assert scores.per_query["q2"] == dict.fromkeys(scores.metrics, 0.0)
    assert scores.mean()["MRR@10"] == pytest.approx(0.25)


def test_ties_follow_trec_eval_order():
    # trec_eval breaks score ties by doc id, descending: "b" ranks before "a"
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0}}
    assert trec_order(run["q"]) == [("b", 1.0), ("a", 1.0)]
    scores = evaluate_run(qrels, run, ["MRR@1", "MRR@10", "nDCG@1"])
    assert scores.per_query["q"] == {"MRR@1": 0.0, "MRR@10": 0.5, "nDCG@1": 0.0}


def test_mrr_cut(miracl):
    qrels = {"q": {"rel": 1}}
    run = {"q": {f"n{i:02d}": 100.0 - i for i in range(10)} | {"rel": 50.0}}
    assert evaluate_run(qrels, run, ["MRR@10", "MRR@11"]).per_query["q"] == {"MRR@10": 0.0, "MRR@11": 1 / 11}


def test_metric_names():
    assert parse_metric("nDCG@10").measure == "ndcg_cut.10"
    assert parse_metric("Recall@100").key == "recall_100"
    assert parse_metric("MAP@100").measure == "map_cut.100"
    for bad in ("ndcg@10", "nDCG", "Recall@0", "MRR@x"):
        with pytest.raises(LangmixError):
            parse_metric(bad)
    with pytest.raises(LangmixError, match="twice"):
        evaluate_run({"q": {"a": 1}}, {}, ["MAP", "MAP"])


def test_run_file_round_trip(tmp_path, miracl):
    qrels = miracl["te"].qrels
    rng = np.random.default_rng(0)
    run = {}
    for qid, docs in qrels.judgments.items():
        ids = list(docs) + [f"other#{i}" for i in range(20)]
        scores = rng.standard_normal(len(ids)).astype(np.float32)
        run[qid] = dict(zip(ids, scores.tolist(), strict=True))
    path = write_trec_run(tmp_path / "run.trec", run, tag="tiny")
    back = read_trec_run(path)
    assert back == run  # 9 significant digits round-trip float32 exactly
    assert evaluate_run(qrels, back).per_query == evaluate_run(qrels, run).per_query
    first = path.read_text().splitlines()[0].split()
    assert first[1] == "Q0" and first[3] == "1" and first[5] == "tiny"


def test_run_file_errors(tmp_path):
    bad = tmp_path / "bad.trec"
    bad.write_text("q1 Q0 d1 1 0.5 tag\nq1 Q0 d2 2 oops tag\n")
    with pytest.raises(DataError, match=r"bad.trec: line 2: score 'oops'"):
        read_trec_run(bad)
    bad.write_text("q1 Q0 d1 1 0.5 tag\nq1 Q0 d1 2 0.4 tag\n")
    with pytest.raises(DataError, match="lists doc 'd1' twice"):
        read_trec_run(bad)
    bad.write_text("q1 Q0 d1 1 0.5\n")
    with pytest.raises(DataError, match="line 1: expected"):
        read_trec_run(bad)
    with pytest.raises(LangmixError, match="tag"):
        format_trec_run({"q": {"d": 1.0}}, tag="two words")
