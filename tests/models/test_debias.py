"""Removing language identity (langmix.models.debias): the projection on hand-made vectors, the sources, and
the saved folder loading with plain SentenceTransformer and giving the projected vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense, Normalize

from langmix.errors import DataError, LangmixError
from langmix.models.debias import (
    METADATA,
    DebiasOptions,
    Source,
    check_out_dir,
    debias,
    estimate_subspace,
    group_means,
    language_directions,
    parse_source,
    project_out,
    projection_matrix,
    sample_texts,
    subtract_group_means,
)
from langmix.models.encoder import Encoder, l2_normalise

# 4 "languages" in 3 dimensions: the centred means spread 3 along e1, 1 along e2 and not at all along e3
MEANS = np.array([[3.0, 0, 0], [-3.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]]) + np.array([0.5, 0.2, 0.7])
SENTENCES = ["Where is the station?", "The cat sleeps on the sofa.", "I like green tea.", "It rains today."]


def test_directions_are_the_spread_of_the_centred_means_largest_first():
    directions, singular = language_directions(MEANS, k=2)
    assert np.allclose(np.abs(directions), [[1, 0, 0], [0, 1, 0]])
    assert np.allclose(singular, [np.sqrt(18), np.sqrt(2), 0], atol=1e-9)
    assert np.allclose(directions @ directions.T, np.eye(2))


@pytest.mark.parametrize(("k", "expected"), [(1, [0, 2, 3]), (2, [0, 0, 3])])
def test_projection_removes_exactly_the_top_k_directions(k, expected):
    directions, _ = language_directions(MEANS, k=k)
    p = projection_matrix(directions)
    assert np.allclose(p @ [1.0, 2, 3], expected)
    assert np.allclose(p @ p, p) and np.allclose(p, p.T)  # an orthogonal projection
    assert np.allclose(
        project_out(np.array([[1.0, 2, 3]]), directions), [np.divide(expected, np.linalg.norm(expected))]
    )
    assert np.allclose(project_out(np.array([[1.0, 2, 3]]), directions, normalize=False), [expected])


@pytest.mark.parametrize(
    ("means", "k", "message"),
    [
        (MEANS, 0, "k must be between 1 and 3 for 4 languages"),
        (MEANS, 4, "k must be between 1 and 3 for 4 languages"),
        (MEANS[:1], None, "at least 2 languages"),
        (MEANS, 3, "span only 2 direction(s)"),  # e3 carries no spread: a third direction would be noise
        (MEANS, None, "use k <= 2"),
    ],
)
def test_k_is_bounded_by_what_the_means_span(means, k, message):
    with pytest.raises(LangmixError, match=message.replace("(", r"\(").replace(")", r"\)")):
        language_directions(means, k)


def test_default_k_is_languages_minus_one_and_removes_every_mean_difference():
    means = np.random.default_rng(0).normal(size=(5, 8))
    directions, _ = language_directions(means)
    assert directions.shape == (4, 8)
    centred = means - means.mean(axis=0)
    assert np.allclose(centred @ projection_matrix(directions), 0, atol=1e-12)


def test_subtract_group_means_is_each_row_minus_its_groups_mean_renormalised():
    vectors = np.array([[1.0, 0], [3.0, 2], [0, 1.0], [0, 5.0], [2.0, 2.0]])
    groups = [2, 2, 0, 0, 2]
    g2 = vectors[[0, 1, 4]].mean(axis=0)  # (2, 4/3)
    assert np.allclose(group_means(vectors, groups), [[0, 3], [0, 0], g2])  # label 1 has no rows: zeros
    expected = l2_normalise(np.array([vectors[0] - g2, vectors[1] - g2, [0, -2], [0, 2], vectors[4] - g2]))
    assert np.allclose(subtract_group_means(vectors, groups), expected, atol=1e-6)
    other = np.array([[1.0, 1], [9, 9], [0, 2]])  # means taken elsewhere (the oracle: the pool's)
    assert np.allclose(
        subtract_group_means(vectors[:3], [2, 0, 2], other), l2_normalise(vectors[:3] - other[[2, 0, 2]])
    )
    with pytest.raises(LangmixError, match="5 vectors but 2 group labels"):
        subtract_group_means(vectors, [0, 1])


def test_sample_is_seeded_distinct_and_stable():
    texts = [f"s{i}" for i in range(50)] + ["s3", " ", "s4 "]
    a, b = sample_texts(texts, 10, 0, "de"), sample_texts(texts, 10, 0, "de")
    assert a == b and len(set(a)) == 10 and a == sorted(a, key=lambda t: int(t[1:]))  # original order
    assert sample_texts(texts, 10, 1, "de") != a and sample_texts(texts, 10, 0, "fr") != a
    assert sample_texts(texts, 100, 0, "de") == [f"s{i}" for i in range(50)]  # all, deduplicated, stripped


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("tatoeba", Source("tatoeba")),
        ("training:mlqa-r", Source("training", "mlqa-r")),
        ("folder:/tmp/x", Source("folder", "/tmp/x")),
        ("lareqa:xquad-r", Source("lareqa", "xquad-r")),
    ],
)
def test_parse_source(spec, expected):
    assert parse_source(spec) == expected
    assert parse_source(spec).fair == (expected.kind != "lareqa")


@pytest.mark.parametrize(
    "spec, benchmark, overlaps",
    [
        ("tatoeba", "tatoeba", True),
        ("tatoeba", "xquad-r", False),
        ("lareqa:xquad-r", "xquad-r", True),
        ("lareqa:xquad-r", "mlqa-r", False),
        ("lareqa:mlqa-r", "tatoeba", False),
        ("training:mlqa-r", "tatoeba", False),
        ("training:mlqa-r", "mlqa-r", True),  # its positives are sentences of MLQA-R's pool
        ("training:mlqa-r", "xquad-r", False),
    ],
)
def test_a_source_knows_which_evaluation_scores_its_own_text(spec, benchmark, overlaps):
    assert parse_source(spec).is_evaluation_text(benchmark) is overlaps


@pytest.mark.parametrize("spec", ["", "tatoeba:x", "training:", "lareqa:miracl", "wiki"])
def test_unknown_source_is_one_line(spec):
    with pytest.raises(LangmixError, match="use tatoeba, training:<data>, folder:<dir> or lareqa"):
        parse_source(spec)


def test_tatoeba_source_maps_codes_and_pools_english_sides(data_dir):
    texts = Source("tatoeba").texts(["de", "zh", "en"], data_dir)
    assert list(texts) == ["de", "zh", "en"]
    de = (data_dir / "tatoeba" / "tatoeba.deu-eng.deu").read_text(encoding="utf-8").splitlines()
    assert texts["de"] == de
    assert len(texts["en"]) == len(texts["de"]) + len(texts["zh"])  # English sides of deu and cmn
    assert list(Source("tatoeba").texts(None, data_dir)) == ["ar", "de", "el", "en", "es", "hi"] + [
        "ru",
        "th",
        "tr",
        "vi",
        "zh",
    ]


def test_training_and_lareqa_sources_default_to_their_languages(data_dir):
    training = Source("training", "mlqa-r").texts(None, data_dir)
    assert list(training) == ["ar", "de", "en", "es", "hi", "vi", "zh"]
    assert Source("lareqa", "xquad-r").texts(["th"], data_dir)["th"][:1] != []
    with pytest.raises(LangmixError, match="el"):
        Source("training", "mlqa-r").texts(["de", "el"], data_dir)


def _write(folder, files):
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_folder_source_reads_lang_txt_skipping_blank_lines(tmp_path):
    folder = _write(tmp_path / "f", {"de.txt": b"Hallo Welt\n\n  Guten Tag \n", "fr.txt": b"Bonjour\n"})
    assert Source("folder", str(folder)).texts() == {"de": ["Hallo Welt", "Guten Tag"], "fr": ["Bonjour"]}
    assert Source("folder", str(folder)).texts(["fr"]) == {"fr": ["Bonjour"]}


@pytest.mark.parametrize(
    ("files", "languages", "message"),
    [
        ({"de.txt": b"gut\n", "fr.txt": b"ok\n\xff\xfe bad\n"}, None, r"fr\.txt: line 2: not UTF-8 text"),
        ({"de.txt": b"gut\n", "fr.txt": b"\n \n"}, None, r"fr\.txt: no sentences"),
        ({"de.txt": b"gut\n", "notes.txt": b"x\n"}, None, r"notes\.txt: 'notes' is not a language code"),
        ({"de.txt": b"gut\n"}, ["de", "es"], r"es\.txt: file not found \(expected <lang>\.txt"),
        ({"readme.md": b"x"}, None, r"no <lang>\.txt files"),
        ({"de.txt": b"gut\n"}, ["de", "../de"], r"'\.\./de' is not a language code"),
    ],
)
def test_bad_folder_source_is_one_line_naming_the_file(tmp_path, files, languages, message):
    folder = _write(tmp_path / "f", files)
    with pytest.raises(DataError, match=message) as info:
        Source("folder", str(folder)).texts(languages)
    assert "\n" not in str(info.value)


def test_estimate_averages_the_normalised_embeddings_per_language(tiny_model_dir):
    model = SentenceTransformer(str(tiny_model_dir))
    texts = {"en": SENTENCES[:2], "de": ["Wo ist der Bahnhof?", "Die Katze schläft."], "fr": ["Il pleut."]}
    encoder = Encoder(model, precision="fp32")
    subspace = estimate_subspace(encoder, texts, per_language=5)
    assert subspace.languages == ("en", "de", "fr") and subspace.counts == {"en": 2, "de": 2, "fr": 1}
    en = l2_normalise(model.encode(["passage: " + t for t in SENTENCES[:2]]))
    assert np.allclose(subspace.means[0], en.mean(axis=0), atol=1e-6)
    assert subspace.k == 2 and np.allclose(subspace.directions @ subspace.directions.T, np.eye(2), atol=1e-9)
    with pytest.raises(LangmixError, match="no text for language"):
        estimate_subspace(encoder, {"en": SENTENCES, "de": [" "]})


@pytest.fixture(scope="module")
def saved(tiny_model_dir, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("debias") / "model"
    options = DebiasOptions(
        languages=["en", "de", "es", "zh"], k=2, per_language=30, seed=3, precision="fp32"
    )
    result = debias(str(tiny_model_dir), out, options, data_root=data_dir)
    return result, out


def test_saved_folder_loads_with_plain_sentence_transformer_and_gives_projected_vectors(
    saved, tiny_model_dir
):
    result, out = saved
    original, debiased = SentenceTransformer(str(tiny_model_dir)), SentenceTransformer(str(out))
    assert [type(m) for m in debiased][-2:] == [Dense, Normalize] and len(debiased) == len(original) + 1
    assert debiased.prompts == original.prompts and debiased.prompts["query"] == "query: "
    for prompt in ("query", "passage"):
        expected = result.subspace.apply(original.encode(SENTENCES, prompt_name=prompt))
        assert np.allclose(debiased.encode(SENTENCES, prompt_name=prompt), expected, atol=1e-5)
    got = debiased.encode(SENTENCES)
    assert np.allclose(got @ result.subspace.directions.T, 0, atol=1e-5)  # nothing left along the directions


def test_saved_folder_records_how_it_was_estimated(saved, tiny_model_dir):
    result, out = saved
    meta = json.loads((out / METADATA).read_text())
    assert meta == result.metadata
    est = meta["estimation"]
    assert est["source"] == "tatoeba" and est["fair"] and est["note"] is None
    assert est["languages"] == ["en", "de", "es", "zh"] and est["per_language"] == 30 and est["seed"] == 3
    assert est["texts"] == {"en": 30, "de": 30, "es": 30, "zh": 30} and est["precision"] == "fp32"
    assert meta["k"] == 2 and len(meta["singular_values"]) == 4 and meta["singular_values"][0] > 0
    assert (
        meta["source_model"]["name"] == str(tiny_model_dir) and len(meta["source_model"]["fingerprint"]) == 32
    )
    assert meta["langmix_version"] and meta["projection"] == {"dim": 32, "normalize_after": True}


def test_a_model_that_did_not_normalise_still_does_not(tiny_model_dir, tmp_path):
    original = SentenceTransformer(str(tiny_model_dir))
    raw = SentenceTransformer(modules=[original[0], original[1]], prompts=original.prompts)
    texts = {"en": SENTENCES, "de": ["Hallo Welt", "Guten Tag"], "es": ["Hola", "Buenos días"]}
    folder = _write(tmp_path / "src", {f"{lang}.txt": "\n".join(t).encode() for lang, t in texts.items()})
    options = DebiasOptions(source=f"folder:{folder}", precision="fp32", use_cache=False)
    result = debias(raw, tmp_path / "out", options, model_name="tiny-raw")
    debiased = SentenceTransformer(str(tmp_path / "out"))
    assert (
        not isinstance(debiased[-1], Normalize) and result.metadata["projection"]["normalize_after"] is False
    )
    p = result.subspace.projection()
    assert np.allclose(debiased.encode(SENTENCES), raw.encode(SENTENCES) @ p, atol=1e-5)
    assert result.metadata["source_model"]["name"] == "tiny-raw"
    assert result.metadata["estimation"]["source"] == f"folder:{folder}"


def test_lareqa_source_is_recorded_as_not_fair(tiny_model_dir, data_dir, tmp_path):
    options = DebiasOptions(source="lareqa:xquad-r", languages=["en", "de"], per_language=10)
    meta = debias(str(tiny_model_dir), tmp_path / "out", options, data_root=data_dir).metadata
    assert meta["estimation"]["fair"] is False and meta["estimation"]["note"] == "not fair: evaluation text"


def test_out_must_be_new_empty_or_an_earlier_debias_folder(tmp_path, saved):
    check_out_dir(tmp_path / "new", overwrite=False)
    (tmp_path / "empty").mkdir()
    check_out_dir(tmp_path / "empty", overwrite=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(LangmixError, match="exists and is not empty; pass --overwrite"):
        check_out_dir(tmp_path / "full", overwrite=False)
    with pytest.raises(LangmixError, match="not written by langmix debias"):
        check_out_dir(tmp_path / "full", overwrite=True)
    check_out_dir(saved[1], overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(LangmixError, match="is a file"):
        check_out_dir(tmp_path / "file", overwrite=True)
