"""Hard negatives from the answer's paragraph (``--hard-negatives N`` on SQuAD-format data): the other
sentences of the paragraph in the passage's language, seeded, topped up where a paragraph is too short, and
carried by the batch plan's rows into cross-lingual batches in the passage's language."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest

from langmix.batching.samplers import BatchPlan, ParallelRows
from langmix.data.parallel import load_parallel, load_squad_parallel
from langmix.data.squad import read_squad_file
from langmix.errors import DataError

LANGS = ["en", "de", "es"]


@pytest.fixture(scope="module")
def with_negatives(data_dir):
    return load_squad_parallel(data_dir / "lareqa" / "mlqa-r", languages=LANGS, hard_negatives=3, seed=7)


@pytest.fixture(scope="module")
def paragraphs(data_dir) -> dict[str, tuple[dict[str, set[str]], dict[str, int]]]:
    """Per language: each paragraph's sentence texts, and each question's answer paragraph."""
    out = {}
    for lang in LANGS:
        squad = read_squad_file(data_dir / "lareqa" / "mlqa-r" / f"{lang}.json", lang)
        texts: dict[int, set[str]] = {}
        for s in squad.sentences:
            texts.setdefault(s.paragraph, set()).add(s.text.strip())
        out[lang] = (texts, {q.id: squad.sentences[q.sentence].paragraph for q in squad.questions})
    return out


def test_negatives_are_other_sentences_of_the_answers_paragraph(with_negatives, paragraphs):
    rows = topped = 0
    for item in with_negatives.items:
        for lang, text in item.texts.items():
            texts, answers = paragraphs[lang]
            in_paragraph = texts[answers[item.id]] - {text.positive}
            every_sentence = set().union(*texts.values())
            assert len(text.negatives) == 3 and len(set(text.negatives)) == 3
            assert text.positive not in text.negatives
            assert set(text.negatives) <= every_sentence  # sentences of this language's file
            # the paragraph's own sentences first, as many as it has; the rest topped up from elsewhere
            k = min(3, len(in_paragraph))
            assert set(text.negatives[:k]) <= in_paragraph
            assert not set(text.negatives[k:]) & in_paragraph
            topped += k < 3
            rows += 1
    assert rows == with_negatives.n_rows and 0 < topped < rows / 2


def test_negatives_are_seeded_and_independent_of_the_languages_loaded(data_dir, with_negatives):
    folder = data_dir / "lareqa" / "mlqa-r"
    again = load_squad_parallel(folder, languages=LANGS, hard_negatives=3, seed=7)
    assert again.items == with_negatives.items
    english_only = load_squad_parallel(folder, languages=["en"], hard_negatives=3, seed=7)
    by_id = {item.id: item for item in with_negatives.items}
    assert all(item.texts["en"] == by_id[item.id].texts["en"] for item in english_only.items)
    other_seed = load_squad_parallel(folder, languages=LANGS, hard_negatives=3, seed=8)
    changed = sum(a != b for a, b in zip(with_negatives.items, other_seed.items, strict=True))
    assert changed > len(with_negatives.items) / 2
    # the queries and positives are the ones without negatives: only the negatives were added
    plain = load_parallel("mlqa-r", languages=LANGS, data_root=data_dir)
    assert [(i.id, {k: (t.query, t.positive) for k, t in i.texts.items()}) for i in plain.items] == [
        (i.id, {k: (t.query, t.positive) for k, t in i.texts.items()}) for i in with_negatives.items
    ]
    assert all(not t.negatives for i in plain.items for t in i.texts.values())
    via_spec = load_parallel("mlqa-r", languages=LANGS, data_root=data_dir, hard_negatives=3, seed=7)
    assert via_spec.items == with_negatives.items


def _squad_file(path: Path, paragraphs: list[list[str]], qid_prefix: str = "q") -> Path:
    """A LAReQA-style file: one question per paragraph, answered by its first sentence."""
    data = []
    for p, sents in enumerate(paragraphs):
        context, breaks = "", []
        for s in sents:
            start = len(context)
            context += s + " "
            breaks.append([start, start + len(s)])
        qas = [{"id": f"{qid_prefix}{p}", "question": f"question {p}?", "answers": [{"answer_start": 0}]}]
        data.append({"paragraphs": [{"context": context, "sentence_breaks": breaks, "qas": qas}]})
    path.write_text(json.dumps({"data": data}), encoding="utf-8")
    return path


def test_a_short_paragraph_is_topped_up_and_too_few_sentences_is_an_error(tmp_path):
    folder = tmp_path / "squad"
    folder.mkdir()
    _squad_file(folder / "en.json", [["A one.", "A two."], ["B one.", "B two.", "B three."], ["C one."]])
    ds = load_squad_parallel(folder, hard_negatives=3, seed=0)
    negatives = {item.id: item.texts["en"].negatives for item in ds.items}
    assert negatives["q0"][0] == "A two."  # its paragraph's one other sentence comes first
    assert set(negatives["q0"][1:]) <= {"B one.", "B two.", "B three.", "C one."}
    assert set(negatives["q1"]) <= {"B two.", "B three.", "A one.", "A two.", "C one."}
    assert set(negatives["q1"][:2]) == {"B two.", "B three."}
    assert all(
        len(set(n)) == 3 and ds.items[i].texts["en"].positive not in n
        for i, n in enumerate(negatives.values())
    )
    with pytest.raises(DataError, match=r"en\.json.*6 hard negatives per question.*lower --hard-negatives"):
        load_squad_parallel(folder, hard_negatives=6, seed=0)


def test_cross_lingual_rows_take_the_negatives_of_the_passage_language(with_negatives):
    plan = BatchPlan([with_negatives], strategy="cross", batch_size=8, seed=3, hard_negatives=2)
    rows = ParallelRows(plan)
    assert rows.column_names == ["anchor", "positive", "negative_1", "negative_2"]
    by_id = {item.id: item for item in with_negatives.items}
    checked = 0
    for codes in islice(plan.epoch_codes(0), 5):
        for row in (rows[c] for c in codes):
            assert row["_qlang"] != row["_plang"]
            expected = by_id[row["_id"]].texts[row["_plang"]]
            assert (row["positive"], row["negative_1"], row["negative_2"]) == (
                expected.positive,
                *expected.negatives[:2],
            )
            checked += 1
    assert checked == 40
