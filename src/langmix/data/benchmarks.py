"""Every benchmark declared once: source and pinned revision, languages, counts, licence, main metric, files.

This registry is what ``langmix data fetch`` downloads (each file checked against its sha256), what
``langmix data list`` shows, and where the loaders take languages and published counts from (SPEC §4):
MIRACL's loader checks its dev query counts, and LAReQA reports name every file whose checksum differs
from the official one. File paths are relative to a data root (``$LANGMIX_DATA_DIR`` or langmix's
cache), in the layout of ``../shared/data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources


@dataclass(frozen=True)
class DataFile:
    """One file: where it sits under a data root, where upstream keeps it, its pinned sha256."""

    path: str  # relative to a data root, e.g. "lareqa/xquad-r/de.json"
    upstream: str  # path in the upstream repository at the pinned revision
    sha256: str


@dataclass(frozen=True)
class Benchmark:
    """An evaluation set, frozen at one upstream revision."""

    name: str
    folder: str  # sub-folder of a data root that holds the set, e.g. "lareqa/xquad-r"
    repo: str  # upstream GitHub repository of the files
    revision: str  # pinned commit of ``repo``
    languages: tuple[str, ...]
    licence: str
    metric: str  # the headline metric
    counts: Mapping[str, int]  # published counts the data is checked against
    files: tuple[DataFile, ...] = field(repr=False)
    corpus: str | None = None  # a corpus read lazily from the Hugging Face hub, never fetched
    corpus_revision: str | None = None  # pinned hub commit of ``corpus``

    def url(self, file: DataFile) -> str:
        """The official download address of ``file`` (raw GitHub content at the pinned commit)."""
        return f"https://raw.githubusercontent.com/{self.repo}/{self.revision}/{file.upstream}"

    def checksum(self, name: str) -> str | None:
        """The pinned sha256 of ``name`` (relative to :attr:`folder`); None for a file not in the set."""
        path = f"{self.folder}/{name}"
        return next((f.sha256 for f in self.files if f.path == path), None)


# The pinned sha256 of every file, as ``sha256sum`` prints them (the lines of ../shared/data/SHA256SUMS),
# kept as package data next to this module: data, not code.
SHA256SUMS = resources.files("langmix.data").joinpath("SHA256SUMS").read_text(encoding="utf-8")
_SHA256 = {path: digest for digest, path in (line.split() for line in SHA256SUMS.splitlines())}


def _pinned(path: str, upstream: str) -> DataFile:
    return DataFile(path, upstream, _SHA256[path])


# ----------------------------------------------------------------------------------------------------
# XQuAD-R and MLQA-R (LAReQA), SPEC §4.1
# ----------------------------------------------------------------------------------------------------

LAREQA_REPO = "google-research-datasets/lareqa"
LAREQA_METRIC = "mAP (Mo./Cr./Mul.)"
XQUAD_R_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
MLQA_R_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")

XQUAD_R = Benchmark(
    name="xquad-r",
    folder="lareqa/xquad-r",
    repo=LAREQA_REPO,
    revision="9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
    languages=XQUAD_R_LANGUAGES,
    licence="CC BY-SA 4.0",
    metric=LAREQA_METRIC,
    counts={"questions": 13_090, "ids": 1_190, "candidates": 13_014},
    files=(
        *(_pinned(f"lareqa/xquad-r/{lang}.json", f"xquad-r/{lang}.json") for lang in XQUAD_R_LANGUAGES),
        _pinned("lareqa/LICENSE", "LICENSE"),
    ),
)

MLQA_R = Benchmark(
    name="mlqa-r",
    folder="lareqa/mlqa-r",
    repo=LAREQA_REPO,
    # Upstream deleted MLQA-R in b91469b; only this commit's history has it.
    revision="354d67d1cd066854cdfbf5ad0e6105528976141d",
    languages=MLQA_R_LANGUAGES,
    licence="CC BY-NC 4.0",  # upstream mlqa-r/LICENSE; the underlying MLQA is CC BY-SA 3.0
    metric=LAREQA_METRIC,
    counts={"questions": 4_199, "ids": 1_148, "candidates": 20_534},
    files=(
        *(_pinned(f"lareqa/mlqa-r/{lang}.json", f"mlqa-r/{lang}.json") for lang in MLQA_R_LANGUAGES),
        _pinned("lareqa/mlqa-r/LICENSE", "mlqa-r/LICENSE"),
    ),
)

# ----------------------------------------------------------------------------------------------------
# MIRACL, SPEC §4.2: dev topics and qrels from anserini-tools; the corpus only on the hub
# ----------------------------------------------------------------------------------------------------

# fmt: off
MIRACL_LANGUAGES: tuple[str, ...] = (
    "ar", "bn", "de", "en", "es", "fa", "fi", "fr", "hi", "id", "ja", "ko", "ru", "sw", "te", "th", "yo", "zh"
)
# fmt: on

# Dev queries per language in MIRACL v1.0 (13,495 in all, as mteb's MIRACLRetrieval dev split); every dev
# query has at least one relevant passage. Checked on load so a truncated copy cannot pass unnoticed.
MIRACL_DEV_QUERIES: dict[str, int] = {
    "ar": 2896,
    "bn": 411,
    "de": 305,
    "en": 799,
    "es": 648,
    "fa": 632,
    "fi": 1271,
    "fr": 343,
    "hi": 350,
    "id": 960,
    "ja": 860,
    "ko": 213,
    "ru": 1252,
    "sw": 482,
    "te": 828,
    "th": 733,
    "yo": 119,
    "zh": 393,
}

# Passages per language (MIRACL README; de and yo, released later, are not listed there). For progress bars.
MIRACL_CORPUS_SIZES: dict[str, int] = {
    "ar": 2_061_414,
    "bn": 297_265,
    "en": 32_893_221,
    "es": 10_373_953,
    "fa": 2_207_172,
    "fi": 1_883_509,
    "fr": 14_636_953,
    "hi": 506_264,
    "id": 1_446_315,
    "ja": 6_953_614,
    "ko": 1_486_752,
    "ru": 9_543_918,
    "sw": 131_924,
    "te": 518_079,
    "th": 542_166,
    "zh": 4_934_368,
}

MIRACL_HUB = "hf://datasets/miracl/miracl-corpus"
# The hub commit every MIRACL corpus read uses unless a caller pins another one.
MIRACL_CORPUS_REVISION = "d921ec7e349ce0d28daf30b2da9da5ee698bef0d"
MIRACL_LICENCE = "Apache-2.0 (topics, qrels), CC BY-SA 4.0 (corpus)"

MIRACL = Benchmark(
    name="miracl",
    folder="miracl",
    repo="castorini/anserini-tools",
    revision="5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
    languages=MIRACL_LANGUAGES,
    licence=MIRACL_LICENCE,
    metric="nDCG@10 (dev)",
    counts={"queries": 13_495},  # dev, all languages; per language in MIRACL_DEV_QUERIES
    files=tuple(
        _pinned(
            f"miracl/{kind}/{kind}.miracl-v1.0-{lang}-dev.tsv",
            f"topics-and-qrels/{kind}.miracl-v1.0-{lang}-dev.tsv",
        )
        for kind in ("topics", "qrels")
        for lang in MIRACL_LANGUAGES
    ),
    corpus=MIRACL_HUB,
    corpus_revision=MIRACL_CORPUS_REVISION,
)

# ----------------------------------------------------------------------------------------------------
# Tatoeba (112 languages <-> English, LASER's test sets), issue 14
# ----------------------------------------------------------------------------------------------------

# ISO 639-3 codes, as in the file names ``tatoeba.<xxx>-eng.<xxx>``.
TATOEBA_LANGUAGES = (
    "afr",
    "amh",
    "ang",
    "ara",
    "arq",
    "arz",
    "ast",
    "awa",
    "aze",
    "bel",
    "ben",
    "ber",
    "bos",
    "bre",
    "bul",
    "cat",
    "cbk",
    "ceb",
    "ces",
    "cha",
    "cmn",
    "cor",
    "csb",
    "cym",
    "dan",
    "deu",
    "dsb",
    "dtp",
    "ell",
    "epo",
    "est",
    "eus",
    "fao",
    "fin",
    "fra",
    "fry",
    "gla",
    "gle",
    "glg",
    "gsw",
    "heb",
    "hin",
    "hrv",
    "hsb",
    "hun",
    "hye",
    "ido",
    "ile",
    "ina",
    "ind",
    "isl",
    "ita",
    "jav",
    "jpn",
    "kab",
    "kat",
    "kaz",
    "khm",
    "kor",
    "kur",
    "kzj",
    "lat",
    "lfn",
    "lit",
    "lvs",
    "mal",
    "mar",
    "max",
    "mhr",
    "mkd",
    "mon",
    "nds",
    "nld",
    "nno",
    "nob",
    "nov",
    "oci",
    "orv",
    "pam",
    "pes",
    "pms",
    "pol",
    "por",
    "ron",
    "rus",
    "slk",
    "slv",
    "spa",
    "sqi",
    "srp",
    "swe",
    "swg",
    "swh",
    "tam",
    "tat",
    "tel",
    "tgl",
    "tha",
    "tuk",
    "tur",
    "tzl",
    "uig",
    "ukr",
    "urd",
    "uzb",
    "vie",
    "war",
    "wuu",
    "xho",
    "yid",
    "yue",
    "zsm",
)

TATOEBA = Benchmark(
    name="tatoeba",
    folder="tatoeba",
    repo="facebookresearch/LASER",
    revision="2aa9cf8242f1030282be23a9cfa906fd011c4b2d",
    languages=TATOEBA_LANGUAGES,
    licence="Tatoeba terms of use (sentences CC BY 2.0 FR)",
    metric="accuracy@1 (X->en)",
    counts={"languages": 112},
    files=tuple(
        _pinned(f"tatoeba/tatoeba.{lang}-eng.{side}", f"data/tatoeba/v1/tatoeba.{lang}-eng.{side}")
        for lang in TATOEBA_LANGUAGES
        for side in (lang, "eng")
    ),
)

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (XQUAD_R, MLQA_R, MIRACL, TATOEBA)}
LAREQA_BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (XQUAD_R, MLQA_R)}
