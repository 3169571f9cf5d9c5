"""Language codes across benchmarks: LAReQA and MIRACL use ISO 639-1 (``de``), Tatoeba ISO 639-3 (``deu``).

One table maps between them, so a model trained on MLQA-R languages can be told which Tatoeba sets
are "seen", and Tatoeba sentences can stand in as unlabelled text for a LAReQA language. The groups the
Tatoeba evaluation reports (XTREME's 36 languages, a resource class per language) are declared here as
data with their sources, never inferred in code.
"""

from __future__ import annotations

# ISO 639-1 -> the Tatoeba (ISO 639-3) code of the same language. Chinese is Mandarin (``cmn``),
# Persian is Iranian Persian (``pes``), Swahili is ``swh``, Malay is ``zsm``: the codes LASER's files use.
TATOEBA_CODE: dict[str, str] = {
    "af": "afr", "am": "amh", "ar": "ara", "az": "aze", "be": "bel", "bg": "bul", "bn": "ben", "br": "bre",
    "bs": "bos", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu", "el": "ell", "en": "eng",
    "eo": "epo", "es": "spa", "et": "est", "eu": "eus", "fa": "pes", "fi": "fin", "fo": "fao", "fr": "fra",
    "fy": "fry", "ga": "gle", "gd": "gla", "gl": "glg", "he": "heb", "hi": "hin", "hr": "hrv", "hu": "hun",
    "hy": "hye", "ia": "ina", "id": "ind", "ie": "ile", "io": "ido", "is": "isl", "it": "ita", "ja": "jpn",
    "jv": "jav", "ka": "kat", "kk": "kaz", "km": "khm", "ko": "kor", "ku": "kur", "kw": "cor", "la": "lat",
    "lt": "lit", "lv": "lvs", "mk": "mkd", "ml": "mal", "mn": "mon", "mr": "mar", "ms": "zsm", "nb": "nob",
    "nl": "nld", "nn": "nno", "oc": "oci", "pl": "pol", "pt": "por", "ro": "ron", "ru": "rus", "sk": "slk",
    "sl": "slv", "sq": "sqi", "sr": "srp", "sv": "swe", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha",
    "tk": "tuk", "tl": "tgl", "tr": "tur", "tt": "tat", "ug": "uig", "uk": "ukr", "ur": "urd", "uz": "uzb",
    "vi": "vie", "xh": "xho", "yi": "yid", "zh": "cmn",
}  # fmt: skip


def tatoeba_code(lang: str) -> str:
    """The Tatoeba code for ``lang`` (ISO 639-1 or already ISO 639-3); unknown codes pass through."""
    return TATOEBA_CODE.get(lang, lang)


# ----------------------------------------------------------------------------------------------------
# Tatoeba groups (issue 14): XTREME's subset and a resource class per language, declared as data
# ----------------------------------------------------------------------------------------------------

# The 36 Tatoeba languages of XTREME (Hu et al. 2020, "XTREME: A Massively Multilingual Multi-task
# Benchmark for Evaluating Cross-lingual Generalization", arXiv 2003.11080; the language list of its
# Tatoeba task): XTREME's 40 languages less English (the pivot), Burmese and Yoruba (no Tatoeba set) and
# Malay (which XTREME leaves out). XTREME reports X->en accuracy averaged over these.
XTREME_TATOEBA: tuple[str, ...] = (
    "afr", "ara", "ben", "bul", "cmn", "deu", "ell", "est", "eus", "fin", "fra", "heb",
    "hin", "hun", "ind", "ita", "jav", "jpn", "kat", "kaz", "kor", "mal", "mar", "nld",
    "pes", "por", "rus", "spa", "swh", "tam", "tel", "tgl", "tha", "tur", "urd", "vie",
)  # fmt: skip

RESOURCE_CLASS_SOURCE = (
    "Joshi et al. 2020, 'The State and Fate of Linguistic Diversity and Inclusion in the NLP World' "
    "(ACL 2020, arXiv 2004.09095), language list lang2tax.txt; classes 2-5 only (0-1 not separated)"
)

# Resource classes of Joshi et al. 2020 (0 = "left-behinds" ... 5 = "winners"), by the language *names* of
# the paper's list (microsoft.github.io/linguisticdiversity/assets/lang2tax.txt) mapped to ISO 639-3 codes
# here. Classes 2-5 are small closed lists (7, 18, 28 and 19 languages in the paper); below are their
# Tatoeba languages plus English (class 5: Tatoeba's pivot, a LAReQA language). The list was recovered
# offline from a published name->ISO mapping of lang2tax.txt whose class sizes match the paper's and whose
# members match the paper's Table 1 examples (e.g. Vietnamese and Dutch 4, Cebuano and Hebrew 3, Irish 2);
# it was not re-read from lang2tax.txt itself. Every other Tatoeba language (54 of 112: class 0 or 1, or a
# variety the list does not name, such as Cantonese or Old English) has no class here and is reported as
# "unknown": telling 0 from 1 needs the full list, and a guess would move the group means.
RESOURCE_CLASSES: dict[int, tuple[str, ...]] = {
    5: ("ara", "cmn", "deu", "eng", "fra", "jpn", "spa"),
    4: (
        "cat", "ces", "eus", "fin", "hin", "hrv", "hun", "ita", "kor",
        "nld", "pes", "pol", "por", "rus", "srp", "swe", "tur", "vie",
    ),
    3: (
        "afr", "arz", "bel", "ben", "bos", "bul", "ceb", "dan", "ell", "est", "glg", "heb", "ind", "kat",
        "kaz", "lat", "lit", "lvs", "ron", "slk", "slv", "tam", "tgl", "tha", "ukr", "urd", "uzb", "zsm",
    ),
    2: ("amh", "gle", "isl", "mar", "swh", "xho"),
}  # fmt: skip

RESOURCE_CLASS_NAMES = {
    0: "left-behinds",
    1: "scraping-bys",
    2: "hopefuls",
    3: "rising stars",
    4: "underdogs",
    5: "winners",
}

_CLASS_OF = {code: cls for cls, codes in RESOURCE_CLASSES.items() for code in codes}


def resource_class(lang: str) -> int | None:
    """The Joshi et al. 2020 class of a language (ISO 639-1 or 639-3), None when not declared."""
    return _CLASS_OF.get(tatoeba_code(lang))


def resource_group(lang: str) -> str:
    """The group label a language's class is reported under: ``"class 3"`` or ``"unknown"``."""
    cls = resource_class(lang)
    return "unknown" if cls is None else f"class {cls}"
