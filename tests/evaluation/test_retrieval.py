"""The whole MIRACL evaluation on the real yo dev qrels: corpus → shards → index → run → score → folder."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from langmix.data.miracl import load_miracl_topics
from langmix.data.pools import miracl_pools
from langmix.data.runfiles import read_trec_run
from langmix.errors import LangmixError
from langmix.evaluation.retrieval import RetrievalSettings, evaluate_pools
from langmix.reports.retrieval import report_files


class OracleEncoder:
    """Query text → its own axis; a passage "relevant to q1 q2" → the sum of their axes; anything else → an
    axis no query uses. Every relevant passage then outscores every other one, so a correct pipeline must
    score exactly 1.0 on every binary-relevance metric."""

    def __init__(self, queries: dict[str, str]):
        self.axis = {text: i for i, text in enumerate(queries.values())}
        self.qid_axis = {qid: i for i, qid in enumerate(queries)}
        self.dim = len(queries) + 1
        self.prompts: dict[str, str] = {}

    def get_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, sentences, normalize_embeddings=False, **kwargs):
        out = np.zeros((len(sentences), self.dim), dtype=np.float32)
        for i, text in enumerate(sentences):
            if text in self.axis:
                out[i, self.axis[text]] = 1
            elif text.startswith("relevant to "):
                for qid in text.removeprefix("relevant to ").split():
                    out[i, self.qid_axis[qid]] = 1
            else:
                out[i, -1] = 1
        if normalize_embeddings:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


@pytest.fixture(scope="module")
def yo(data_dir):
    return load_miracl_topics("yo", data_dir)


def write_yo_corpus(root, yo, drop=()):
    """MIRACL hub layout for yo: each judged doc (text: the queries it is relevant to) + distractors."""
    relevant_to: dict[str, list[str]] = {}
    for qid, docs in yo.qrels.judgments.items():
        for doc_id, grade in docs.items():
            relevant_to.setdefault(doc_id, [])
            if grade > 0:
                relevant_to[doc_id].append(qid)
    rows = [
        {"docid": d, "title": "", "text": f"relevant to {' '.join(q)}" if q else f"judged non-relevant {d}"}
        for d, q in relevant_to.items()
        if d not in drop
    ]
    rows += [{"docid": f"999999#{i}", "title": "Ìròyìn", "text": f"distractor {i}"} for i in range(300)]
    folder = root / "miracl-corpus-v1.0-yo"
    folder.mkdir(parents=True)
    for part, start in enumerate(range(0, len(rows), 500)):
        with gzip.open(folder / f"docs-{part}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[start : start + 500])
    return len(rows)


def test_oracle_run_scores_one_through_the_whole_pipeline(tmp_path, data_dir, yo):
    n_passages = write_yo_corpus(tmp_path / "corpus", yo)
    encoder = OracleEncoder(yo.queries.as_dict())
    settings = RetrievalSettings(shard_size=400, batch_size=32, dtype="float32")
    pools = miracl_pools(["yo"], corpus=tmp_path / "corpus", data_root=data_dir)
    out = tmp_path / "out"
    summary = evaluate_pools(
        pools,
        out,
        model=encoder,
        model_name="oracle",
        benchmark="miracl",
        settings=settings,
        render=report_files,  # report.md: rendered by langmix.reports from the metrics document
    )
    row = summary["languages"]["yo"]
    assert row["n_queries"] == 119 and row["n_missing_from_run"] == 0
    assert row["corpus_passages"] == n_passages
    assert row["qrels_docs_not_in_corpus"]["pairs"] == 0
    for metric in ("nDCG@10", "Recall@100", "MRR@10", "MAP"):
        assert row[metric] == pytest.approx(1.0, abs=1e-9), metric
        assert summary["mean"][metric] == summary["median"][metric] == row[metric]
    run = read_trec_run(out / "runs" / "yo.trec")
    assert len(run) == 119 and all(len(docs) == 100 for docs in run.values())
    assert (out / "report.md").read_text().count("| yo | 119 |") == 1
    assert len((out / "per_query.jsonl").read_text().splitlines()) == 119
    shards = sorted(p.name for p in (out / "work" / "yo" / "embeddings").glob("shard-*.npy"))
    assert len(shards) == -(-n_passages // 400)

    # a second evaluation reuses the finished embeddings and index
    kept = [
        out / "work" / "yo" / "index-flat" / "index.faiss",
        out / "work" / "yo" / "embeddings" / shards[0],
    ]
    stamps = [p.stat().st_mtime_ns for p in kept]
    again = evaluate_pools(
        pools, out, model=encoder, model_name="oracle", benchmark="miracl", settings=settings
    )
    assert [p.stat().st_mtime_ns for p in kept] == stamps
    assert again["languages"]["yo"]["nDCG@10"] == row["nDCG@10"]

    # scoring the written run file alone gives the same numbers
    scored = evaluate_pools(
        miracl_pools(["yo"], corpus=None, data_root=data_dir),
        tmp_path / "rescored",
        model=None,
        model_name="oracle",
        benchmark="miracl",
        settings=settings,
        runs={"yo": out / "runs" / "yo.trec"},
    )
    assert {m: scored["languages"]["yo"][m] for m in settings.metrics} == {
        m: row[m] for m in settings.metrics
    }


def test_passages_missing_from_the_corpus_are_reported(tmp_path, data_dir, yo):
    relevant = sorted({d for docs in yo.qrels.judgments.values() for d, g in docs.items() if g > 0})
    drop = relevant[:5]
    write_yo_corpus(tmp_path / "corpus", yo, drop=drop)
    pools = miracl_pools(["yo"], corpus=tmp_path / "corpus", data_root=data_dir)
    summary = evaluate_pools(
        pools,
        tmp_path / "out",
        model=OracleEncoder(yo.queries.as_dict()),
        model_name="oracle",
        benchmark="miracl",
        settings=RetrievalSettings(k=100, dtype="float32"),
        render=report_files,
    )
    row = summary["languages"]["yo"]
    affected = {q for q, docs in yo.qrels.judgments.items() if any(d in drop for d in docs)}
    assert row["qrels_docs_not_in_corpus"] == {
        "pairs": sum(1 for docs in yo.qrels.judgments.values() for d in docs if d in drop),
        "relevant_pairs": sum(
            1 for docs in yo.qrels.judgments.values() for d, g in docs.items() if d in drop and g
        ),
        "queries": len(affected),
        "examples": row["qrels_docs_not_in_corpus"]["examples"],
    }
    # the missing relevant passages stay in the qrels (trec_eval keeps them): recall drops for their queries
    expected_recall = np.mean(
        [
            sum(1 for d, g in docs.items() if g and d not in drop) / sum(1 for g in docs.values() if g)
            for docs in yo.qrels.judgments.values()
        ]
    )
    assert row["Recall@100"] == pytest.approx(expected_recall, abs=1e-12)
    assert "absent from the corpus" in (tmp_path / "out" / "report.md").read_text()


def test_settings_are_checked():
    with pytest.raises(LangmixError, match="raise --k to at least 100"):
        RetrievalSettings(k=10)
    assert RetrievalSettings(k=10, metrics=("nDCG@10", "MRR@10")).k == 10
