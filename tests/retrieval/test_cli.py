"""``langmix encode | index | search | evaluate miracl|beir`` end to end on the tiny random-weight model."""

from __future__ import annotations

import json

import pytest
from tests.helpers import invoke, write_beir

from langmix.data.runfiles import read_trec_run
from langmix.errors import LangmixError

ROWS = [
    {"_id": "nairobi", "title": "Nairobi", "text": "Nairobi is the capital of Kenya.", "lang": "en"},
    {"_id": "berlin", "title": "Berlin", "text": "Berlin is the capital of Germany.", "lang": "en"},
    {"_id": "jazz", "title": "Jazz", "text": "Jazz is a music genre from New Orleans.", "lang": "en"},
    {"_id": "mji", "title": "Nairobi", "text": "Nairobi ni mji mkuu wa Kenya.", "lang": "sw"},
    {"_id": "mto", "title": "Nile", "text": "Nile ni mto mrefu barani Afrika.", "lang": "sw"},
]


@pytest.fixture
def beir(tmp_path):
    queries = [
        {"_id": "q1", "text": "capital of Kenya", "lang": "en"},
        {"_id": "q2", "text": "music from New Orleans", "lang": "en"},
        {"_id": "q3", "text": "mji mkuu wa Kenya", "lang": "sw"},
    ]
    return write_beir(tmp_path / "set", ROWS, queries, {"q1": "nairobi", "q2": "jazz", "q3": "mji"})


def test_encode_index_search(tmp_path, beir, tiny_model_dir):
    emb, idx = tmp_path / "emb", tmp_path / "idx"
    out = invoke(
        "encode", beir, "--out", emb, "--model", tiny_model_dir, "--shard-size", 2, "--batch-size", 2
    )
    assert "5 passages" in out.output
    manifest = json.loads((emb / "manifest.json").read_text())
    assert manifest["n"] == 5 and len(manifest["shards"]) == 3 and manifest["meta"]["fingerprint"]
    invoke("index", emb, "--out", idx, "--kind", "flat")
    assert (idx / "index.faiss").is_file() and json.loads((idx / "index.json").read_text())["n"] == 5

    # one typed query: a table with doc ids, scores and texts (the model is the one recorded in the index)
    shown = invoke("search", idx, "--query", "capital of Kenya", "--k", 3, "--corpus", beir / "corpus.jsonl")
    assert "top 3" in shown.output and sum(r["_id"] in shown.output for r in ROWS) == 3

    # a query file: TREC run, or JSON with texts
    tsv = tmp_path / "q.tsv"
    tsv.write_text("a\tcapital of Kenya\nb\tNile river\n", encoding="utf-8")
    invoke("search", idx, "--queries", tsv, "--k", 4, "--out", tmp_path / "run.trec", "--tag", "tiny")
    run = read_trec_run(tmp_path / "run.trec")
    assert set(run) == {"a", "b"} and all(len(d) == 4 for d in run.values())
    invoke(
        "search",
        idx,
        "--queries",
        beir / "queries.jsonl",
        "--format",
        "json",
        "--out",
        tmp_path / "r.json",
        "--corpus",
        beir,
    )
    hits = json.loads((tmp_path / "r.json").read_text())
    assert set(hits) == {"q1", "q2", "q3"} and {"rank", "doc_id", "score", "text"} <= set(hits["q1"][0])
    printed = invoke("search", idx, "--queries", tsv, "--k", 2)
    assert len(printed.stdout.strip().splitlines()) == 4

    with pytest.raises(LangmixError, match="exactly one of --query"):
        invoke("search", idx)
    with pytest.raises(LangmixError, match="--format must be one of"):
        invoke("search", idx, "--query", "x", "--format", "xml")


def test_search_refuses_another_model(tmp_path, beir, tiny_model_dir):
    emb, idx = tmp_path / "emb", tmp_path / "idx"
    invoke("encode", beir, "--out", emb, "--model", tiny_model_dir)
    invoke("index", emb, "--out", idx)
    info = json.loads((idx / "index.json").read_text())
    info["meta"]["fingerprint"] = "0" * 32  # as if another model had encoded the corpus
    (idx / "index.json").write_text(json.dumps(info))
    with pytest.raises(LangmixError, match="is not the model that encoded"):
        invoke("search", idx, "--query", "capital")
    assert "top 10" in invoke("search", idx, "--query", "capital", "--force").output


def test_evaluate_beir_per_language(tmp_path, beir, tiny_model_dir):
    out = tmp_path / "out"
    invoke(
        "evaluate",
        "beir",
        beir,
        "--model",
        tiny_model_dir,
        "--out",
        out,
        "--k",
        5,
        "--metrics",
        "nDCG@5,Recall@5,MRR@5,MAP",
        "--index-kind",
        "hnsw",
    )
    doc = json.loads((out / "metrics.json").read_text())
    assert list(doc["languages"]) == ["en", "sw"]
    assert doc["languages"]["en"]["n_queries"] == 2 and doc["languages"]["sw"]["n_queries"] == 1
    assert doc["languages"]["en"]["index"] == "hnsw"
    for metric in doc["metrics"]:
        values = [doc["languages"][lang][metric] for lang in ("en", "sw")]
        assert all(0.0 <= v <= 1.0 for v in values)
        assert doc["mean"][metric] == pytest.approx(sum(values) / 2)
        assert doc["median"][metric] == pytest.approx(sum(values) / 2)
    assert doc["languages"]["en"]["Recall@5"] == 1.0  # 5 passages, k = 5: everything is retrieved
    assert set(read_trec_run(out / "runs" / "sw.trec")) == {"q3"}
    assert (out / "report.md").is_file() and (out / "per_query.jsonl").is_file()


def test_evaluate_miracl_scores_run_files(tmp_path, data_dir):
    qrels = (data_dir / "miracl" / "qrels" / "qrels.miracl-v1.0-yo-dev.tsv").read_text().splitlines()
    lines = []
    for i, line in enumerate(qrels):
        qid, _, doc_id, grade = line.split()
        lines.append(f"{qid} Q0 {doc_id} 1 {float(grade) + 1 / (i + 2)} x")
    (tmp_path / "yo.trec").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = invoke(
        "evaluate",
        "miracl",
        "--langs",
        "yo",
        "--runs",
        tmp_path / "{lang}.trec",
        "--out",
        out,
        "--data-dir",
        data_dir,
    )
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["languages"]["yo"]["n_queries"] == 119
    assert doc["languages"]["yo"]["Recall@100"] == 1.0 and doc["languages"]["yo"]["nDCG@10"] == pytest.approx(
        1.0
    )
    assert "yo" in result.output
    with pytest.raises(LangmixError, match="must contain"):
        invoke(
            "evaluate",
            "miracl",
            "--langs",
            "yo",
            "--runs",
            tmp_path / "yo.trec",
            "--out",
            out,
            "--data-dir",
            data_dir,
        )
    with pytest.raises(LangmixError, match="unknown language"):
        invoke("evaluate", "miracl", "--langs", "yo,xx", "--runs", "{lang}", "--data-dir", data_dir)
