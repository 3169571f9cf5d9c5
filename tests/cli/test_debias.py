"""``langmix debias`` end to end on the tiny model, and the oracle analysis ``--center-languages``."""

from __future__ import annotations

import json

import numpy as np
from sentence_transformers import SentenceTransformer
from tests.helpers import invoke, toy_lareqa_set
from typer.testing import CliRunner

from langmix.cli import app
from langmix.data.lareqa import load_lareqa
from langmix.errors import LangmixError
from langmix.evaluation.api import center_lareqa
from langmix.evaluation.lareqa import evaluate_embeddings
from langmix.models.cache import model_fingerprint
from langmix.models.debias import METADATA
from langmix.models.encoder import Encoder, l2_normalise


def _folder(tmp_path):
    folder = tmp_path / "text"
    folder.mkdir()
    (folder / "en.txt").write_text("Where is the station?\nI like tea.\nIt rains.\n", encoding="utf-8")
    (folder / "de.txt").write_text("Wo ist der Bahnhof?\nIch mag Tee.\n", encoding="utf-8")
    (folder / "es.txt").write_text("¿Dónde está la estación?\nMe gusta el té.\n", encoding="utf-8")
    return folder


def test_debias_writes_a_loadable_model_and_prints_a_summary(tiny_model_dir, tmp_path):
    out = tmp_path / "debiased"
    args = ["debias", tiny_model_dir, "--out", out, "--source", f"folder:{_folder(tmp_path)}"]
    result = invoke(*args, "--k", 1, "--per-language", 2, "--precision", "fp32")
    meta = json.loads((out / METADATA).read_text())
    assert meta["k"] == 1 and meta["estimation"]["languages"] == ["de", "en", "es"]
    assert meta["estimation"]["texts"] == {"de": 2, "en": 2, "es": 2}
    text = " ".join(result.output.split())
    assert "k 1" in text and "languages de,en,es" in text and f"{meta['singular_values'][0]:.3f}" in text
    assert "wrote" in text and "not fair" not in text
    assert SentenceTransformer(str(out)).encode(["hello"]).shape == (1, 32)
    refused = CliRunner().invoke(app, [str(a) for a in args])  # exists now
    assert "pass --overwrite" in str(refused.exception)
    invoke(*args, "--k", 2, "--overwrite", "--precision", "fp32")
    assert json.loads((out / METADATA).read_text())["k"] == 2


def test_existing_out_is_refused_in_one_line_before_any_model_loads(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    args = ["debias", str(tmp_path / "no-such-model"), "--out", str(tmp_path / "out"), "--overwrite"]
    result = CliRunner().invoke(app, args)  # main() prints a LangmixError as one "error:" line
    assert isinstance(result.exception, LangmixError), result.output
    assert "\n" not in str(result.exception) and "not written by langmix debias" in str(result.exception)
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"


def test_oracle_centering_subtracts_the_pools_language_mean_from_questions_and_candidates():
    data = toy_lareqa_set()  # en: q a,b + c a,b,x; de: the same; ids a, b
    meaning = {"a": [1.0, 0, 0, 0], "b": [0, 1.0, 0, 0], "x": [0, 0, 0, 0]}
    offset = {0: np.array([0, 0, 3.0, 0]), 1: np.array([0, 0, 0, 3.0])}  # a strong per-language shift
    q = np.array([np.add(meaning[i], offset[li]) for i, li in zip(data.q_id, data.q_lang, strict=True)])
    c = np.array([np.add(meaning[t[0]], offset[li]) for t, li in zip(data.c_text, data.c_lang, strict=True)])
    q_c, c_c = center_lareqa(data, l2_normalise(q), l2_normalise(c), "language")
    qn, cn = l2_normalise(q), l2_normalise(c)
    en, de = cn[[0, 1, 2]].mean(axis=0), cn[[3, 4, 5]].mean(axis=0)  # the pool's means per language
    assert np.allclose(q_c, l2_normalise(qn - np.array([en, en, de, de])), atol=1e-6)
    assert np.allclose(c_c, l2_normalise(cn - np.array([en, en, en, de, de, de])), atol=1e-6)
    unchanged = center_lareqa(data, qn, cn, "none")
    assert unchanged[0] is qn and unchanged[1] is cn
    before = evaluate_embeddings(data, qn, cn).summary()
    after = evaluate_embeddings(data, q_c, c_c).summary()
    assert after["mul"]["map"]["mean"] == 1.0 and before["mul"]["map"]["mean"] < 0.9


def test_center_languages_option_is_recorded_and_the_cache_keeps_raw_vectors(
    tiny_model_dir, data_dir, tmp_path
):
    assert "oracle analysis" in " ".join(invoke("evaluate", "xquad-r", "--help").output.split())
    out = tmp_path / "oracle"
    args = ["evaluate", "xquad-r", "--model", tiny_model_dir, "--langs", "en,de", "--max-questions", 3]
    result = invoke(*args, "--precision", "fp32", "--center-languages", "--out", out, "--data-dir", data_dir)
    assert "oracle analysis" in result.output
    assert json.loads((out / "metrics.json").read_text())["options"]["center"] == "language"

    model = SentenceTransformer(str(tiny_model_dir))
    texts = load_lareqa("xquad-r", languages=["en", "de"], data_root=data_dir, max_questions=3).c_text[:20]
    cached = Encoder(model, use_cache=True, fingerprint=model_fingerprint(model), precision="fp32")
    vectors, stats = cached.encode(texts, "passage")
    assert stats.from_cache == stats.unique  # the centred run filled the cache ...
    fresh, _ = Encoder(model, precision="fp32").encode(texts, "passage")
    assert np.allclose(vectors, fresh, atol=1e-6)  # ... with the model's own vectors, not centred ones


def test_the_evaluation_pool_as_source_is_labelled_not_fair(tiny_model_dir, data_dir, tmp_path):
    args = ["debias", tiny_model_dir, "--out", tmp_path / "out", "--source", "lareqa:xquad-r"]
    result = invoke(
        *args, "--languages", "en,de", "--per-language", 5, "--precision", "fp32", "--data-dir", data_dir
    )
    assert "not fair: evaluation text" in result.output
    assert json.loads((tmp_path / "out" / METADATA).read_text())["estimation"]["fair"] is False
