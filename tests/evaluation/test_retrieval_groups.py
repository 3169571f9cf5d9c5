"""Query groups that cannot distort a retrieval run: unjudged groups are excluded and reported, labels never
become paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.helpers import write_beir

from langmix.data.pools import beir_pool
from langmix.errors import LangmixError
from langmix.evaluation.retrieval import RetrievalSettings, evaluate_pools, run_file, summarize
from langmix.evaluation.trec import evaluate_run

CORPUS = [{"_id": f"d{i}", "text": f"passage {i}"} for i in range(4)]
QUERIES = [
    {"_id": "q1", "text": "one", "lang": "en"},
    {"_id": "q2", "text": "two", "lang": "de"},
    {"_id": "q3", "text": "three", "lang": "sw"},  # no judgement in the qrels
]


def test_a_group_without_qrels_is_excluded_from_the_means_and_reported(tmp_path):
    pool = beir_pool(write_beir(tmp_path / "beir", CORPUS, QUERIES, {"q1": "d1", "q2": "d2"}))
    runs = {}
    for label, qid, doc in (("en", "q1", "d1"), ("de", "q2", "d2")):  # perfect runs
        runs[label] = tmp_path / f"{label}.trec"
        runs[label].write_text(f"{qid} Q0 {doc} 1 2.0 t\n{qid} Q0 d0 2 1.0 t\n")
    summary = evaluate_pools(
        [pool],
        tmp_path / "out",
        model=None,
        model_name="(run files)",
        benchmark="beir:test",
        settings=RetrievalSettings(k=10, metrics=("nDCG@10", "MRR@10")),
        runs=runs,
    )
    # before: sw scored 0.0 and the macro mean was 2/3
    assert summary["mean"] == {"nDCG@10": 1.0, "MRR@10": 1.0}
    assert list(summary["languages"]) == ["en", "de"] and summary["n_languages"] == 2
    assert summary["excluded_groups"] == {
        "sw": {"n_queries": 1, "reason": "no judged queries in the qrels: left out of every mean"}
    }
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["excluded_groups"] == summary["excluded_groups"]
    from langmix.reports.retrieval import render_markdown

    assert "- sw: excluded from every mean and median (no judged queries" in render_markdown(summary)


def test_summarize_leaves_out_a_group_with_no_judged_query():
    scores = {
        "en": evaluate_run({"q1": {"d1": 1}}, {"q1": {"d1": 1.0}}, ["MRR@10"]),
        "yo": evaluate_run({}, {"q9": {"d1": 1.0}}, ["MRR@10"]),
    }
    summary = summarize(scores, benchmark="b")
    assert summary["mean"] == {"MRR@10": 1.0} and list(summary["languages"]) == ["en"]
    assert summary["excluded_groups"]["yo"]["n_queries"] == 0
    with pytest.raises(LangmixError, match="no query group has judged queries"):
        summarize({"yo": scores["yo"]}, benchmark="b")


@pytest.mark.parametrize("label", ["../../escaped", "a/b", "", ".hidden", "x y"])
def test_a_label_that_is_not_a_plain_name_never_becomes_a_path(label):
    with pytest.raises(LangmixError, match="is not a plain name"):
        run_file(Path("out"), label)


def test_plain_labels_are_run_files():
    assert run_file(Path("out"), "pt-BR") == Path("out/runs/pt-BR.trec")
    assert run_file(Path("out"), "all") == Path("out/runs/all.trec")


def test_lareqa_seen_unseen_means_are_macro_means_over_each_group():
    """Hand-made run: trained on en and zh (given as the Tatoeba code ``cmn`` to check one code space);
    seen = en, zh; unseen = de, th."""
    from langmix.evaluation.run_folder import lareqa_groups

    langs = ["en", "de", "zh", "th"]

    def per_lang(*values):
        return dict(zip(langs, values, strict=True)) | {"mean": sum(values) / 4}

    doc = {
        "model": {"training_languages": ["en", "cmn"]},
        "matrix": {"languages": langs},
        "summary": {
            "mo": {"map": per_lang(0.8, 0.7, 0.6, 0.5)},
            "cr": {"map": per_lang(0.4, 0.3, 0.2, 0.1)},
            "mul": {"map": per_lang(0.9, 0.5, 0.3, 0.1), "rank_distance": per_lang(100, 200, 300, 500)},
        },
    }
    got = lareqa_groups(doc)
    want = {
        "seen_mo_map": 0.7, "seen_cr_map": 0.3, "seen_mul_map": 0.6, "seen_rank_distance": 200,
        "unseen_mo_map": 0.6, "unseen_cr_map": 0.2, "unseen_mul_map": 0.3, "unseen_rank_distance": 350,
    }  # fmt: skip
    assert got == pytest.approx(want)
    assert lareqa_groups({**doc, "model": {"training_languages": None}}) == {}
    everything = lareqa_groups({**doc, "model": {"training_languages": langs}})
    assert set(everything) == {k for k in want if k.startswith("seen")}  # no empty unseen group
