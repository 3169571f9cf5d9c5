"""BEIR layout: corpus/queries/qrels loaders, passage text, and every malformed-input error."""

from __future__ import annotations

import gzip
import json

import pytest

from langmix.data.beir import (
    Passage,
    iter_corpus,
    load_beir,
    load_corpus,
    load_qrels,
    load_queries,
)
from langmix.errors import DataError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def beir_dir(tmp_path):
    root = tmp_path / "set"
    (root / "qrels").mkdir(parents=True)
    write_jsonl(
        root / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Nairobi", "text": "is the capital of Kenya.", "lang": "en"},
            {"_id": "d2", "title": "", "text": "Mji mkuu wa Kenya ni Nairobi.", "lang": "sw"},
            {"_id": "d3", "text": "No title field at all."},
        ],
    )
    write_jsonl(
        root / "queries.jsonl",
        [
            {"_id": "q1", "text": "capital of Kenya?", "lang": "en"},
            {"_id": "q2", "text": "mji mkuu wa Kenya?", "lang": "sw"},
        ],
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td2\t1\n")
    (root / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return root


def test_load_beir_folder(beir_dir):
    data = load_beir(beir_dir, "test")
    assert data.queries.ids == ["q1", "q2"]
    assert data.qrels.judgments == {"q1": {"d1": 2, "d2": 0}, "q2": {"d2": 1}}
    assert data.qrels.n_relevant("q1") == 1
    corpus = data.load_corpus()
    assert corpus.ids == ["d1", "d2", "d3"]
    # passage text = title + " " + text; no leading space without a title
    assert corpus.get("d1") == "Nairobi is the capital of Kenya."
    assert corpus.get("d2") == "Mji mkuu wa Kenya ni Nairobi."
    assert corpus.get("d3") == "No title field at all."
    assert corpus.get("missing") is None
    assert corpus.langs == ["en", "sw", None]
    assert [p.id for p in data.iter_corpus()] == corpus.ids
    groups = data.queries.by_language()
    assert list(groups) == ["en", "sw"] and groups["sw"].ids == ["q2"]
    assert load_beir(beir_dir, "dev").qrels.judgments == {"q1": {"d1": 1}}


def test_gzipped_corpus_and_default_lang(tmp_path):
    path = tmp_path / "corpus.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"docid": "39#0", "title": "Albedo", "text": "whiteness"}) + "\n\n")
    assert list(iter_corpus(tmp_path, lang="en")) == [Passage("39#0", "whiteness", "Albedo", "en")]


def test_unknown_docs_are_counted(beir_dir):
    data = load_beir(beir_dir, "test")
    data.qrels.judgments["q2"]["gone"] = 1
    data.qrels.judgments["q2"]["gone-too"] = 0
    report = data.qrels.unknown_docs(data.load_corpus())
    assert (report.pairs, report.relevant_pairs, report.queries) == (2, 1, 1)
    assert report.examples == ["q2:gone", "q2:gone-too"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"_id": "d9", "text": "ok"', r"line 2: invalid JSON"),
        ('["d9", "text"]', r"line 2: expected a JSON object"),
        ('{"title": "t", "text": "x"}', r"line 2: no doc id"),
        ('{"_id": "d9"}', r"line 2: no 'text' field"),
        ('{"_id": "d9", "text": 5}', r"line 2: 'text' must be a string"),
        ('{"_id": "d 9", "text": "x"}', r"line 2: doc id 'd 9' contains whitespace"),
        ('{"_id": "", "text": "x"}', r"line 2: empty doc id"),
        ('{"_id": "d9", "text": "x", "lang": 3}', r"line 2: field 'lang' must be a string"),
    ],
)
def test_malformed_corpus_lines(tmp_path, line, message):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "d1", "text": "fine"}\n' + line + "\n")
    with pytest.raises(DataError, match=message) as err:
        list(iter_corpus(path))
    assert str(err.value).startswith(str(path))


def test_duplicate_doc_id(tmp_path):
    path = write_jsonl(
        tmp_path / "corpus.jsonl",
        [{"_id": "a", "text": "x"}, {"_id": "b", "text": "y"}, {"_id": "a", "text": "z"}],
    )
    with pytest.raises(DataError, match=r"line 3: duplicate doc id 'a' \(first on line 1\)"):
        load_corpus(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1\tfirst\n2\t   \n", r"line 2: empty query text for query '2'"),
        ("1\tfirst\n1\tagain\n", r"line 2: duplicate query id '1' \(first on line 1\)"),
        ("1\tfirst\textra\n", r"line 1: expected 'qid<TAB>query text'"),
        ("", r"no queries"),
    ],
)
def test_malformed_topics(tmp_path, content, message):
    path = tmp_path / "topics.tsv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_queries(path)


def test_malformed_jsonl_queries(tmp_path):
    path = write_jsonl(tmp_path / "queries.jsonl", [{"_id": "q1", "text": ""}])
    with pytest.raises(DataError, match="empty query text"):
        load_queries(path)
    write_jsonl(path, [{"text": "hi"}])
    with pytest.raises(DataError, match="no query id"):
        load_queries(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("q1 Q0 d1 1\nq1 Q0 d1 0\n", r"line 2: query 'q1' judges doc 'd1' twice \(first on line 1\)"),
        ("q1 Q0 d1 yes\n", r"line 1: relevance 'yes' is not an integer"),
        ("q1 d1\n", r"line 1: expected 'qid Q0 docid rel'"),
        ("query-id\tcorpus-id\tscore\n", r"no judgements"),
    ],
)
def test_malformed_qrels(tmp_path, content, message):
    path = tmp_path / "qrels.tsv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_qrels(path)


def test_missing_files(beir_dir, tmp_path):
    with pytest.raises(DataError, match="no qrels for split 'train'; splits here: dev, test"):
        load_beir(beir_dir, "train")
    with pytest.raises(DataError, match="no corpus.jsonl"):
        load_beir(tmp_path / "set" / "qrels")
    with pytest.raises(DataError, match="file not found"):
        load_queries(tmp_path / "nope.tsv")
