"""Language codes across benchmarks: LAReQA and MIRACL use ISO 639-1 (``de``), Tatoeba ISO 639-3 (``deu``).

One table maps between them, so a model trained on MLQA-R languages can be told which Tatoeba sets
are "seen", and Tatoeba sentences can stand in as unlabelled text for a LAReQA language.
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
