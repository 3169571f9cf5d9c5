"""Tatoeba sets and the language groups declared for them (XTREME-36, resource classes)."""

from __future__ import annotations

import pytest

from langmix.data.benchmarks import TATOEBA, TATOEBA_LANGUAGES
from langmix.data.languages import (
    RESOURCE_CLASSES,
    XTREME_TATOEBA,
    resource_class,
    resource_group,
    tatoeba_code,
)
from langmix.data.tatoeba import read_tatoeba
from langmix.errors import LangmixError
from langmix.evaluation.tatoeba import load_pairs


def test_xtreme_subset_is_36_tatoeba_languages():
    assert len(XTREME_TATOEBA) == len(set(XTREME_TATOEBA)) == 36
    assert set(XTREME_TATOEBA) <= set(TATOEBA_LANGUAGES)
    # XTREME's languages by their ISO 639-1 codes (Hu et al. 2020): the mapping agrees with the list
    iso1 = (
        "af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt ru sw ta te th tl tr"
    )
    iso1 += " ur vi zh"
    assert sorted(tatoeba_code(code) for code in iso1.split()) == sorted(XTREME_TATOEBA)


def test_resource_classes_are_declared_once_for_tatoeba_codes():
    codes = [code for members in RESOURCE_CLASSES.values() for code in members]
    assert len(codes) == len(set(codes)), "a language in two classes"
    assert set(codes) <= {*TATOEBA_LANGUAGES, "eng"}
    assert set(RESOURCE_CLASSES) <= {0, 1, 2, 3, 4, 5}
    unknown = [lang for lang in TATOEBA_LANGUAGES if resource_class(lang) is None]
    assert len(unknown) == 54  # the number the declaration's comment states


@pytest.mark.parametrize(
    ("lang", "cls", "group"),
    [("deu", 5, "class 5"), ("de", 5, "class 5"), ("en", 5, "class 5"), ("vi", 4, "class 4")]
    + [("heb", 3, "class 3"), ("el", 3, "class 3")]
    + [("swh", 2, "class 2"), ("kab", None, "unknown"), ("yue", None, "unknown")],
)
def test_resource_class_lookup(lang, cls, group):
    assert resource_class(lang) == cls
    assert resource_group(lang) == group


@pytest.mark.parametrize("lang", ["deu", "swh", "tzl", "kab"])
def test_pair_counts_equal_the_files_line_counts(data_dir, lang):
    folder = data_dir / TATOEBA.folder
    pair = read_tatoeba(lang, data_dir)
    for path, side in (
        (folder / f"tatoeba.{lang}-eng.{lang}", pair.sentences),
        (folder / f"tatoeba.{lang}-eng.eng", pair.english),
    ):
        assert len(side) == path.read_bytes().count(b"\n")
    assert pair.english[0] == (folder / f"tatoeba.{lang}-eng.eng").read_text().split("\n")[0]


def test_load_pairs_maps_iso1_and_truncates(data_dir):
    pairs = load_pairs(["de", "swh"], 20, data_dir)
    assert [p.lang for p in pairs] == ["deu", "swh"]
    assert all(len(p.sentences) == len(p.english) == 20 for p in pairs)
    assert pairs[0].english == read_tatoeba("deu", data_dir).english[:20]


def test_unknown_language_is_one_line(data_dir):
    with pytest.raises(LangmixError, match="unknown language code"):
        load_pairs(["deu", "xx"], None, data_dir)
