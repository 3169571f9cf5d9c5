"""MIRACL dev topics/qrels from ../shared/data, and the corpus loader's datasets path on a local fixture."""

from __future__ import annotations

import gzip
import json

import pytest

from langmix.data.miracl import (
    MIRACL_DEV_QUERIES,
    MIRACL_LANGUAGES,
    iter_miracl_corpus,
    load_miracl_topics,
    miracl_data_files,
)
from langmix.errors import DataError, LangmixError


def test_all_languages_load_with_published_counts(data_dir):
    total = 0
    for lang in MIRACL_LANGUAGES:
        topics = load_miracl_topics(lang, data_dir)
        assert len(topics.queries) == MIRACL_DEV_QUERIES[lang]
        assert set(topics.qrels.judgments) == set(topics.queries.ids)
        assert all(topics.qrels.n_relevant(q) >= 1 for q in topics.qrels.judgments)
        assert set(topics.queries.langs) == {lang}
        total += len(topics.queries)
    assert len(MIRACL_LANGUAGES) == 18 and total == 13_495
    en = load_miracl_topics("en", data_dir)
    assert en.queries.texts[0] == "Is Creole a pidgin of French?"
    assert en.qrels["0"]["462221#4"] == 1


def test_language_and_folder_errors(data_dir, tmp_path):
    with pytest.raises(LangmixError, match="unknown language code"):
        load_miracl_topics("xx", data_dir)
    with pytest.raises(DataError, match="file not found"):
        load_miracl_topics("en", tmp_path)


def test_truncated_topics_are_refused(data_dir, tmp_path):
    for kind in ("topics", "qrels"):
        (tmp_path / "miracl" / kind).mkdir(parents=True)
    src = data_dir / "miracl"
    lines = (src / "topics/topics.miracl-v1.0-yo-dev.tsv").read_text(encoding="utf-8").splitlines(True)
    (tmp_path / "miracl/topics/topics.miracl-v1.0-yo-dev.tsv").write_text(
        "".join(lines[:-1]), encoding="utf-8"
    )
    qrels = (src / "qrels/qrels.miracl-v1.0-yo-dev.tsv").read_text(encoding="utf-8")
    (tmp_path / "miracl/qrels/qrels.miracl-v1.0-yo-dev.tsv").write_text(qrels, encoding="utf-8")
    with pytest.raises(DataError, match="118 queries, MIRACL v1.0 dev yo has 119"):
        load_miracl_topics("yo", tmp_path)
    topics = load_miracl_topics("yo", tmp_path, strict=False)
    assert len(topics.queries) == 118
    # right count, but one judged query lost its topic
    renamed = "".join(lines[:-1]) + "renamed\t" + lines[-1].split("\t", 1)[1]
    (tmp_path / "miracl/topics/topics.miracl-v1.0-yo-dev.tsv").write_text(renamed, encoding="utf-8")
    with pytest.raises(DataError, match="1 judged queries have no topic"):
        load_miracl_topics("yo", tmp_path)


def write_hub_layout(root, lang, files):
    folder = root / f"miracl-corpus-v1.0-{lang}"
    folder.mkdir(parents=True)
    for i, rows in enumerate(files):
        with gzip.open(folder / f"docs-{i}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return folder


def test_corpus_loader_reads_the_hub_layout_through_datasets(tmp_path):
    write_hub_layout(
        tmp_path,
        "yo",
        [
            [
                {"docid": "1#0", "title": "Èkó", "text": "Ìlú ní Nàìjíríà."},
                {"docid": "1#1", "title": "Èkó", "text": "B"},
            ],
            [{"docid": "7#0", "title": "", "text": "Kò sí àkọlé."}],
        ],
    )
    passages = list(iter_miracl_corpus("yo", source=tmp_path))
    assert [p.id for p in passages] == ["1#0", "1#1", "7#0"]
    assert passages[0].contents == "Èkó Ìlú ní Nàìjíríà."
    assert passages[2].contents == "Kò sí àkọlé."
    assert {p.lang for p in passages} == {"yo"}


def test_corpus_loader_validates_records(tmp_path):
    write_hub_layout(
        tmp_path,
        "sw",
        [[{"docid": "1#0", "title": "t", "text": "x"}, {"docid": "1 1", "title": "t", "text": "y"}]],
    )
    with pytest.raises(DataError, match=r"passage 2: doc id '1 1' contains whitespace"):
        list(iter_miracl_corpus("sw", source=tmp_path))
    with pytest.raises(DataError, match="no MIRACL corpus folder for 'fi'"):
        list(iter_miracl_corpus("fi", source=tmp_path))


def test_hub_pattern_needs_no_network():
    assert (
        miracl_data_files("sw") == "hf://datasets/miracl/miracl-corpus/miracl-corpus-v1.0-sw/docs-*.jsonl.gz"
    )
    assert miracl_data_files("sw", revision="abc").startswith("hf://datasets/miracl/miracl-corpus@abc/")
