"""Inputs that cannot distort numbers: language labels, query groups, qrels headers, undecodable bytes.

Each case used to pass silently (a path outside --out, a group scored 0.0, a data line taken for a header,
a traceback); each is now one DataError naming the file and the record, or a group reported as excluded.
"""

from __future__ import annotations

import gzip
import json

import pytest
from tests.helpers import write_beir

from langmix.data.beir import load_corpus, load_qrels, load_queries
from langmix.data.inputs import check_language_code, iter_lines
from langmix.data.parallel import load_parallel_jsonl
from langmix.data.pools import beir_pool
from langmix.data.runfiles import read_trec_run
from langmix.errors import DataError


def _queries(tmp_path, *records: dict):
    path = tmp_path / "queries.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("lang", ["../../escaped", "en/../..", "English", "", "EN", "en de", "x"])
def test_a_query_lang_that_is_not_a_language_code_is_refused(tmp_path, lang):
    path = _queries(
        tmp_path, {"_id": "q1", "text": "a", "lang": "en"}, {"_id": "q2", "text": "b", "lang": lang}
    )
    with pytest.raises(DataError, match="line 2: .* is not a language code") as err:
        load_queries(path)
    assert str(err.value).startswith(str(path))


def test_a_corpus_lang_that_is_not_a_language_code_is_refused(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps({"_id": "d1", "text": "x", "lang": "../x"}) + "\n")
    with pytest.raises(DataError, match=r"corpus\.jsonl: line 1: '\.\./x' is not a language code"):
        load_corpus(path)


@pytest.mark.parametrize("lang", ["en", "sw", "fil", "pt-BR", "zh_Hans", "sr-Latn-RS"])
def test_language_codes_with_subtags_are_accepted(lang):
    assert check_language_code(lang, "here") == lang


def test_queries_without_lang_and_with_lang_all_are_not_merged(tmp_path):
    # 13 queries without a lang and 5 labelled "all" used to become one group "all" of 13: 5 vanished
    records = [{"_id": f"u{i}", "text": "t"} for i in range(13)]
    records += [{"_id": f"a{i}", "text": "t", "lang": "all"} for i in range(5)]
    with pytest.raises(DataError, match=r"line 14: lang 'all' names the group of queries without a lang"):
        load_queries(_queries(tmp_path, *records))
    # either kind alone is fine
    assert load_queries(_queries(tmp_path, *records[:13])).langs == [None] * 13
    assert load_queries(_queries(tmp_path, *records[13:])).langs == ["all"] * 5


def test_a_group_without_judged_queries_is_left_out_and_listed(tmp_path):
    corpus = [{"_id": "d1", "text": "one"}, {"_id": "d2", "text": "two"}]
    queries = [
        {"_id": "q1", "text": "a", "lang": "en"},
        {"_id": "q2", "text": "b", "lang": "de"},
        {"_id": "q3", "text": "c", "lang": "sw"},
        {"_id": "q4", "text": "d", "lang": "sw"},
    ]
    pool = beir_pool(write_beir(tmp_path / "b", corpus, queries, {"q1": "d1", "q2": "d2"}))
    assert list(pool.groups) == ["en", "de"]
    assert pool.unjudged == {"sw": 2}


@pytest.mark.parametrize(
    "header",
    [
        "query-id\tcorpus-id\tscore",
        "query_id corpus_id score",
        "qid docid rel",
        "qid Q0 docid rel",
        "QID DOCID REL",
    ],
)
def test_a_literal_qrels_header_is_skipped(tmp_path, header):
    path = tmp_path / "qrels.tsv"
    path.write_text(f"{header}\nq1\td1\t1\n")
    assert load_qrels(path).judgments == {"q1": {"d1": 1}}


@pytest.mark.parametrize("first", ["q1\td1\tx", "q1 d1 1.5", "q1 Q0 d1 yes", "query-id corpus-id relevant?"])
def test_a_first_line_with_a_bad_grade_is_an_error_not_a_header(tmp_path, first):
    path = tmp_path / "qrels.tsv"
    path.write_text(f"{first}\nq2\td2\t1\n")
    with pytest.raises(DataError, match=r"qrels\.tsv: line 1: relevance .* is not an integer"):
        load_qrels(path)


def test_a_header_after_the_first_line_is_data(tmp_path):
    path = tmp_path / "qrels.tsv"
    path.write_text("q1 d1 1\nquery-id corpus-id score\n")
    with pytest.raises(DataError, match="line 2: relevance 'score' is not an integer"):
        load_qrels(path)


BAD_BYTES = b"\xff\xfe broken"


@pytest.mark.parametrize(
    ("name", "good", "reader"),
    [
        ("queries.jsonl", b'{"_id": "q1", "text": "a"}\n', load_queries),
        ("topics.tsv", b"q1\ta\n", load_queries),
        ("qrels.tsv", b"q1 d1 1\n", load_qrels),
        ("corpus.jsonl", b'{"_id": "d1", "text": "a"}\n', load_corpus),
        ("run.trec", b"q1 Q0 d1 1 0.5 x\n", read_trec_run),
        ("train.jsonl", b'{"id": "1", "lang": "en", "query": "q", "positive": "p"}\n', load_parallel_jsonl),
    ],
)
def test_invalid_utf8_names_file_and_line(tmp_path, name, good, reader):
    path = tmp_path / name
    path.write_bytes(good + good.replace(b"1", b"2", 1)[:-1] + BAD_BYTES + b"\n")
    with pytest.raises(
        DataError, match=r"line 2: not UTF-8 text \(byte 0x\w\w at column \d+\); re-save"
    ) as err:
        reader(path)
    assert str(err.value).startswith(str(path))


def test_a_truncated_gzip_file_is_named(tmp_path):
    path = tmp_path / "corpus.jsonl.gz"
    data = gzip.compress(b"".join(b'{"_id": "d%d", "text": "some text"}\n' % i for i in range(2000)))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"corpus\.jsonl\.gz: cannot read the file \(.*\); is it truncated"):
        load_corpus(path)


def test_lines_keep_their_numbers_and_endings(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_bytes(b"a\r\n\nb")
    assert list(iter_lines(path)) == [(1, "a\r\n"), (2, "\n"), (3, "b")]
