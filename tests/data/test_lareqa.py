"""XQuAD-R / MLQA-R loading: the published counts, the setting counts, and every bad-input case."""

from __future__ import annotations

import json
import re
import shutil
from itertools import combinations

import numpy as np
import pytest

from langmix.data.lareqa import checksum_mismatches, load_lareqa
from langmix.errors import DataError, LangmixError
from langmix.evaluation.lareqa import evaluate_embeddings


@pytest.mark.parametrize(
    ("name", "questions", "ids", "candidates", "languages", "mo", "cr"),
    [("xquad-r", 13_090, 1_190, 13_014, 11, 11, 110), ("mlqa-r", 4_199, 1_148, 20_534, 7, 7, 42)],
)
def test_counts_match_spec(data_dir, name, questions, ids, candidates, languages, mo, cr):
    data = load_lareqa(name, data_root=data_dir)
    assert (data.n_questions, len(set(data.q_id)), data.n_candidates) == (questions, ids, candidates)
    assert len(data.languages) == languages
    assert checksum_mismatches(data) == []
    rel = data.relevant()
    per_question = (rel >= 0).sum(axis=1)
    if name == "xquad-r":
        assert (per_question == 11).all()
    else:
        assert per_question.min() == 2 and per_question.max() == 4
    rng = np.random.default_rng(1)
    result = evaluate_embeddings(
        data,
        rng.standard_normal((data.n_questions, 8)).astype(np.float32),
        rng.standard_normal((data.n_candidates, 8)).astype(np.float32),
    )
    assert result.settings_count() == {"mo": mo, "cr": cr, "mul": languages}
    # Cr. pairs score only the questions present in both languages
    ids_of = [set(np.asarray(data.q_id)[data.q_lang == i]) for i in range(languages)]
    for i, j in combinations(range(languages), 2):
        assert result.pair_count[i, j] == len(ids_of[i] & ids_of[j]) == result.pair_count[j, i]


def test_max_questions_keeps_full_pool_and_shared_ids(data_dir):
    data = load_lareqa("mlqa-r", data_root=data_dir, max_questions=20, languages=["en", "de", "ar"])
    assert data.n_candidates == sum(
        len(p["sentence_breaks"])
        for lang in ("en", "de", "ar")
        for a in json.loads((data_dir / f"lareqa/mlqa-r/{lang}.json").read_text())["data"]
        for p in a["paragraphs"]
    )
    counts = np.bincount(data.q_lang)
    assert counts.tolist() == [20, 20, 20]
    en = set(np.asarray(data.q_id)[data.q_lang == 0])
    de = set(np.asarray(data.q_id)[data.q_lang == 1])
    assert len(en & de) == 20  # most-shared ids first, so Cr. pairs stay populated


@pytest.fixture
def small_copy(data_dir, tmp_path):
    """A 2-language XQuAD-R copy cut to its first article, to break in each test."""
    folder = tmp_path / "lareqa" / "xquad-r"
    folder.mkdir(parents=True)
    for lang in ("en", "de"):
        doc = json.loads((data_dir / f"lareqa/xquad-r/{lang}.json").read_text())
        doc["data"] = doc["data"][:1]
        (folder / f"{lang}.json").write_text(json.dumps(doc, ensure_ascii=False))
    return tmp_path


def _edit(root, lang, change):
    path = root / "lareqa" / "xquad-r" / f"{lang}.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False))
    return path


def _load(root, **kw):
    return load_lareqa("xquad-r", data_root=root, languages=["en", "de"], **kw)


def test_small_copy_loads_and_reports_checksum_mismatch(small_copy):
    data = _load(small_copy)
    assert data.n_questions > 0 and set(checksum_mismatches(data)) == {"en", "de"}


def test_missing_file(small_copy):
    (small_copy / "lareqa/xquad-r/de.json").unlink()
    with pytest.raises(DataError, match=r"xquad-r/de\.json: file not found"):
        _load(small_copy)


def test_truncated_file(small_copy):
    path = small_copy / "lareqa/xquad-r/en.json"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"en\.json: not valid JSON \(truncated or corrupt\?\): line 1"):
        _load(small_copy)


def test_paragraph_without_sentence_breaks(small_copy):
    _edit(small_copy, "de", lambda d: d["data"][0]["paragraphs"][2].pop("sentence_breaks"))
    with pytest.raises(
        DataError, match=r"de\.json: data\[0\]\.paragraphs\[2\]: missing or empty 'sentence_breaks'"
    ):
        _load(small_copy)


def test_offsets_outside_context(small_copy):
    def change(d):
        p = d["data"][0]["paragraphs"][1]
        p["sentence_breaks"][-1] = [p["sentence_breaks"][-1][0], len(p["context"]) + 7]

    _edit(small_copy, "en", change)
    with pytest.raises(
        DataError, match=r"en\.json: data\[0\]\.paragraphs\[1\]\.sentence_breaks\[\d+\]: offsets"
    ):
        _load(small_copy)


def test_answer_outside_every_sentence(small_copy):
    def change(d):
        p = d["data"][0]["paragraphs"][0]
        p["sentence_breaks"] = p["sentence_breaks"][:1]  # the later answers now fall outside
        for qa in p["qas"]:
            qa["answers"][0]["answer_start"] = p["sentence_breaks"][0][1] + 1

    _edit(small_copy, "en", change)
    with pytest.raises(
        DataError, match=r"paragraphs\[0\]\.qas\[0\] \(id=\w+\): answer_start=\d+ lies outside"
    ):
        _load(small_copy)


def test_duplicate_ids(small_copy):
    def change(d):
        qas = d["data"][0]["paragraphs"][0]["qas"]
        qas[1]["id"] = qas[0]["id"]

    _edit(small_copy, "de", change)
    with pytest.raises(
        DataError, match=r"de\.json: data\[0\]\.paragraphs\[0\]\.qas\[1\]: duplicate question id"
    ):
        _load(small_copy)


def test_unknown_language(small_copy):
    with pytest.raises(LangmixError, match="unknown language code.*xx.*xquad-r has ar, de"):
        load_lareqa("xquad-r", data_root=small_copy, languages=["en", "xx"])


def test_empty_language_folder(small_copy):
    shutil.rmtree(small_copy / "lareqa/xquad-r")
    (small_copy / "lareqa/xquad-r").mkdir()
    with pytest.raises(DataError, match="no <lang>.json files"):
        _load(small_copy)


def test_skip_invalid_reports_what_was_skipped(small_copy):
    _edit(small_copy, "de", lambda d: d["data"][0]["paragraphs"][2].pop("sentence_breaks"))
    strict_free = _load(small_copy, strict=False)
    assert len(strict_free.skipped) == 1
    assert "paragraphs[2]" in str(strict_free.skipped[0]) and "de.json" in str(strict_free.skipped[0])
    full = load_lareqa("xquad-r", data_root=small_copy, languages=["en"])
    assert strict_free.n_questions < 2 * full.n_questions  # the paragraph's questions went with it


@pytest.mark.parametrize(
    ("change", "record", "message"),
    [
        # the second sentence listed twice: one more candidate in the pool, later answers shifted by one
        (
            lambda b: b.insert(2, list(b[1])),
            "sentence_breaks[2]",
            r"\[\d+, \d+\) duplicates sentence_breaks\[1\]",
        ),
        # the second sentence starting inside the first
        (
            lambda b: b.__setitem__(1, [b[0][1] - 3, b[1][1]]),
            "sentence_breaks[1]",
            r"\[\d+, \d+\) overlaps sentence_breaks\[0\] = \[0, \d+\)",
        ),
    ],
    ids=["duplicated", "overlapping"],
)
def test_duplicated_or_overlapping_sentence_breaks_name_file_and_record(small_copy, change, record, message):
    _edit(small_copy, "en", lambda d: change(d["data"][0]["paragraphs"][1]["sentence_breaks"]))
    where = re.escape(f"en.json: data[0].paragraphs[1].{record}: ")
    with pytest.raises(DataError, match=where + message):
        _load(small_copy)
    skipped = _load(small_copy, strict=False).skipped  # --skip-invalid: the paragraph is left out, and listed
    assert [s.record for s in skipped] == [f"data[0].paragraphs[1].{record}"]


def test_qas_that_is_not_a_list_is_an_error_not_a_traceback(small_copy):
    _edit(small_copy, "de", lambda d: d["data"][0]["paragraphs"][0].__setitem__("qas", 5))
    with pytest.raises(DataError, match=r"de\.json: data\[0\]\.paragraphs\[0\]\.qas: 'qas' must be a list"):
        _load(small_copy)
    _edit(small_copy, "de", lambda d: d.__setitem__("data", 5))
    with pytest.raises(DataError, match=r"de\.json: top level has no 'data' list"):
        _load(small_copy)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_max_questions_below_one_is_refused(small_copy, bad):
    # -1 used to drop one question per language ([:-1]) and 0 to evaluate nothing
    with pytest.raises(LangmixError, match=r"max questions must be at least 1 \(or 'all'"):
        _load(small_copy, max_questions=bad)
