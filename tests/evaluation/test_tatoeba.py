"""Tatoeba scoring: top-1 hits against a numpy argmax reference, ties, grouped means, and a real slice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from langmix.data.languages import XTREME_TATOEBA
from langmix.data.tatoeba import TatoebaPair
from langmix.evaluation.run_folder import load_run
from langmix.evaluation.tatoeba import (
    TatoebaOptions,
    evaluate_tatoeba,
    group_means,
    run_tatoeba,
    score_embeddings,
    top1_hits,
    training_languages,
    write_tatoeba_run,
)
from langmix.models.encoder import Encoder
from langmix.reports import tatoeba as report
from langmix.reports.compare import compare_rows, compare_table


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def pair(lang: str, n: int) -> TatoebaPair:
    return TatoebaPair(
        lang, tuple(f"{lang}-{i}" for i in range(n)), tuple(f"en-{lang}-{i}" for i in range(n))
    )


@pytest.mark.parametrize("seed", range(5))
def test_hits_match_numpy_argmax(seed):
    rng = np.random.default_rng(seed)
    n = 40
    en = unit(rng.normal(size=(n, 8)))
    x = unit(en + rng.normal(scale=0.9, size=(n, 8)))  # noisy translations: some hits, some misses
    hits = top1_hits(x, en)
    reference = np.argmax(x @ en.T, axis=1) == np.arange(n)
    assert np.array_equal(hits, reference)
    assert 0 < hits.sum() < n  # the case is not trivial
    assert np.array_equal(top1_hits(en, x), np.argmax(en @ x.T, axis=1) == np.arange(n))


def test_perfect_encoder_scores_one_and_a_shuffled_one_its_fixed_points():
    n = 50
    identity = np.eye(n, dtype=np.float32)
    assert top1_hits(identity, identity).all()
    rng = np.random.default_rng(0)
    shares = []
    for _ in range(200):
        perm = rng.permutation(n)
        hits = top1_hits(identity, identity[perm])
        assert hits.sum() == (perm == np.arange(n)).sum()  # only fixed points of the shuffle are right
        shares.append(hits.mean())
    assert abs(np.mean(shares) - 1 / n) < 0.01  # about 1/n


def test_ties_are_misses_unless_the_text_is_the_translation():
    same = np.ones((3, 2), dtype=np.float32) / np.sqrt(2)
    assert not top1_hits(same, same).any()  # every candidate ties: pessimistic
    # candidates 0 and 2 are the same English sentence: retrieving either is retrieving the translation
    x = unit(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    en = unit(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    assert top1_hits(x, en).tolist() == [False, True, False]  # lines 0 and 2 tie with each other
    assert top1_hits(x, en, ["Hi.", "Bye.", "Hi."]).all()
    assert top1_hits(x, en, ["Hi.", "Bye.", "Hello."]).tolist() == [False, True, False]


def test_group_means_and_seen_split():
    langs = ["deu", "swh", "kab", "cmn"]
    pairs = [pair(lang, 4) for lang in langs]
    eye = np.eye(4, dtype=np.float32)
    wrong = eye[[1, 0, 3, 2]]  # every line retrieves another
    half = eye[[0, 1, 3, 2]]
    x_embs = [eye, eye, eye, eye]
    en_embs = [eye, half, wrong, eye]
    res = score_embeddings(pairs, x_embs, en_embs, seen_languages=["de", "zh", "en", "ko", "so"])
    by_lang = {row["lang"]: row for row in res.rows}
    assert [by_lang[lang]["x2en"] for lang in langs] == [1.0, 0.5, 0.0, 1.0]
    assert by_lang["swh"]["en2x"] == 0.5 and by_lang["kab"]["n"] == 4
    g = res.groups
    assert g["all"]["x2en"] == pytest.approx(2.5 / 4)
    assert g["xtreme36"]["languages"] == ["deu", "swh", "cmn"] and not g["xtreme36"]["complete"]
    assert (
        g["class 5"]["x2en"] == 1.0 and g["class 2"]["x2en"] == 0.5 and g["unknown"]["languages"] == ["kab"]
    )
    assert "class 3" not in g  # no evaluated language in it
    assert res.seen == ["deu", "cmn", "kor"] and res.seen_without_set == ["so"]  # English dropped
    assert g["seen"]["languages"] == ["deu", "cmn"] and g["unseen"]["x2en"] == pytest.approx(0.25)
    assert "seen" not in score_embeddings(pairs, x_embs, en_embs).groups


def test_xtreme_group_is_complete_only_with_all_36():
    rows = [{"lang": lang, "x2en": 1.0, "en2x": 0.0, "resource_group": "class 3"} for lang in XTREME_TATOEBA]
    assert group_means(rows)["xtreme36"]["complete"]
    assert not group_means(rows[:-1])["xtreme36"]["complete"]


def test_training_languages_from_the_run_record(tmp_path):
    run = tmp_path / "train"
    (run / "model").mkdir(parents=True)
    assert training_languages(run / "model") is None
    info = {
        "data": {"train": [{"languages": {"ar": 3, "de": 2, "en": 5}}, {"languages": {"de": 1, "vi": 1}}]}
    }
    (run / "run.json").write_text(json.dumps(info))
    assert training_languages(run / "model") == ["ar", "de", "en", "vi"]
    assert training_languages("embedded") is None


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return SentenceTransformer(str(tiny_model_dir), device="cpu")


def test_real_slice_matches_a_direct_reference(tiny, data_dir, tmp_path):
    options = TatoebaOptions(["deu", "cmn", "swh"], max_per_language=20, use_cache=False, precision="fp32")
    run = run_tatoeba(tiny, options, data_root=data_dir)
    assert [row["n"] for row in run.result.rows] == [20, 20, 20]
    distinct = {t for p in run.pairs for t in (*p.sentences, *p.english)}
    assert run.encoding.encoded == len(distinct) == run.encoding.unique  # each text encoded once
    encoder = Encoder(tiny, use_cache=False, precision="fp32")
    for p, row in zip(run.pairs, run.result.rows, strict=True):
        x, _ = encoder.encode(list(p.sentences), "query")
        en, _ = encoder.encode(list(p.english), "query")
        scores = x @ en.T
        assert row["x2en"] == pytest.approx(np.mean(np.argmax(scores, 1) == np.arange(20)), abs=1e-9)
        assert row["en2x"] == pytest.approx(np.mean(np.argmax(scores.T, 1) == np.arange(20)), abs=1e-9)
    library = evaluate_tatoeba(
        tiny, ["de", "zh", "sw"], max_per_language=20, use_cache=False, precision="fp32", data_root=data_dir
    )
    assert library.rows == run.result.rows

    doc = write_tatoeba_run(run, {"name": "tiny"}, tmp_path / "a", render=report.report_files)
    assert doc["kind"] == "tatoeba" and doc["benchmark"] == "tatoeba"
    assert doc["model"]["fingerprint"] and doc["model"]["precision"] == "fp32" and doc["device"]
    assert set(doc["headline"]) == {"x2en", "en2x"}  # XTREME-36 only when all 36 ran
    assert load_run(tmp_path / "a") == doc
    for name in ("report.md", report.PLOT, "per_language.tsv", "per_query.npz"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    assert (tmp_path / "a" / report.PLOT).read_bytes().startswith(b"\x89PNG")
    hits = np.load(tmp_path / "a" / "per_query.npz")
    assert hits["deu_x2en"].mean() == pytest.approx(doc["languages"][0]["x2en"])
    assert "| deu | 20 | 5 | yes |" in (tmp_path / "a" / "report.md").read_text()

    seen = run_tatoeba(
        tiny, TatoebaOptions(**{**vars(options), "seen_languages": ["de"]}), data_root=data_dir
    )
    doc_b = write_tatoeba_run(seen, {"name": "tiny"}, tmp_path / "b")
    assert {"seen_x2en", "unseen_en2x"} <= set(doc_b["headline"])
    rows = compare_rows([doc, doc_b])
    assert set(rows[1]) == {"x2en", "en2x", "delta_x2en", "delta_en2x"} and rows[1]["delta_x2en"] == 0
    compare_table([tmp_path / "a", tmp_path / "b"])  # renders without a missing-column error


def test_lareqa_report_shows_seen_unseen_and_class_means():
    """Issue 14 item 2: the LAReQA table's group rows use the same declared groups as Tatoeba."""
    from langmix.reports import lareqa as lareqa_report

    langs = ["en", "de", "el", "th"]
    per = {"en": 0.8, "de": 0.6, "el": 0.4, "th": 0.2, "mean": 0.5}
    metric = {"map": per, "r@1": per, "r@10": per}
    summary = {"mo": metric, "cr": metric, "mul": {**metric, "rank_distance": per}}
    doc = {"summary": summary, "matrix": {"languages": langs}, "model": {"name": "m"}}
    assert [row[0] for row in lareqa_report.group_rows(doc)] == [
        "mean class 5 (en, de)",
        "mean class 3 (el, th)",
    ]
    doc["model"]["training_languages"] = ["en", "de", "ar"]  # as recorded by `langmix train` (MLQA-R-like)
    rows = {row[0]: row[1:] for row in lareqa_report.group_rows(doc)}
    assert rows["mean seen (en, de)"][0] == "0.700" and rows["mean unseen (el, th)"][-1] == "0.3"
    assert list(rows)[:2] == ["mean seen (en, de)", "mean unseen (el, th)"]
