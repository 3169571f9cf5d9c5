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


# The pinned sha256 of every file, as ``sha256sum`` prints them (the lines of ../shared/data/SHA256SUMS).
SHA256SUMS = """\
25ddafc153e4cfdafd70729574ef1b44348e1814709e57680d55347038d3f92c  lareqa/LICENSE
c52922d3b8ac1ae03ed5ac38647ad59870dca3dda2beefe18ecdc30729acb69d  lareqa/xquad-r/ar.json
16fb0f4bf4916154b585a20c24c66074591c9718a1affe764ff4697572328949  lareqa/xquad-r/de.json
163fd43ee785a30eb534ae2061e9eaa766a7ee4e8ffce5e4b422480c150f64b6  lareqa/xquad-r/el.json
7b0954f39297c27a31fef610f0883337dd2907fa8699151dc922afdd0fa12ffe  lareqa/xquad-r/en.json
f8e836b2d91009c4363e04315f7ede363eedbbb49c67dda60de6c4aa782f58de  lareqa/xquad-r/es.json
ea45ba8ae4513d1533b222bebdc02a90bc319c055d3aeea68584a053d2e92872  lareqa/xquad-r/hi.json
7f4dff853538b9a5fcc28c070b8bb983a5c5d190ac747b8e005a1ada9cab18f1  lareqa/xquad-r/ru.json
c3a041864c3a9fb0b4dd91cfdf99cf36b411b3e704c58a303c97bc6dc786cfe4  lareqa/xquad-r/th.json
f3e8c13002bbce154a4578f535f7533cb70f3da08840e6b62735935baec7bd94  lareqa/xquad-r/tr.json
e35926bf5cc6fc6ecbdfca49467aabeb454f08d152d7818143a906bd31dde995  lareqa/xquad-r/vi.json
80c2cde7b9c2fb134c303cbb52f2ba396ead9eb0014aec43993543d2ba9e93ed  lareqa/xquad-r/zh.json
336255dc30193e8e15d689d9481bb05673d89055718f3a96923a7ffb99adbbaf  lareqa/mlqa-r/LICENSE
2132fbc03208535c0fe01f2e2c5121d06f9c2aa799af93b0a719dbc105bdf137  lareqa/mlqa-r/ar.json
ce9454dc5aa6f2d85c23cd6e49cb367fbb7c4c6e62d7f71e355c6b5dae4d0886  lareqa/mlqa-r/de.json
fedd9a5cc0848dda80caf84aa36f482adaae230526a3f6e9e86926a93ef3b1e4  lareqa/mlqa-r/en.json
70ecba276b8c96a692b120693a595d076ce94ad21d4b28311538a9fcbfe0f9d7  lareqa/mlqa-r/es.json
4dd0fb3c06f737a5481d705bc1dcac7876712a5815c9265908fbb3a0696cb654  lareqa/mlqa-r/hi.json
9d3baff6ba03e6793b25594217265ea59a136b9733833dca8a9582a84a78ff85  lareqa/mlqa-r/vi.json
57f01d2fff50cf3392805635b01445339f225ad5bf28ba8443b12f8dbd1e69dc  lareqa/mlqa-r/zh.json
10b534b889ec46e23df478eee09410ef2880d90d419644dfed5d05d39b57ece0  miracl/topics/topics.miracl-v1.0-ar-dev.tsv
46fbf50f1f3972b6908543bad6b6dfc60a75eec80d54aae603efd884ba608d2f  miracl/topics/topics.miracl-v1.0-bn-dev.tsv
6b66ec2cfb4af383e6fe18a08899bfa3a0deeb5e6010758743fa93ab598321c9  miracl/topics/topics.miracl-v1.0-de-dev.tsv
25d9e6d17656674fd7aa3b67ee912c71545e664a842b147bfc17e9ff391db3da  miracl/topics/topics.miracl-v1.0-en-dev.tsv
5e93b5a1cea22a44912e6ad242147c58719dd8ce4bb6304264a53876b70e65ac  miracl/topics/topics.miracl-v1.0-es-dev.tsv
df0ece36ab8048f765aa0bb2dde948f5c764cc25bdfc09fb1f5317ef24ff8b49  miracl/topics/topics.miracl-v1.0-fa-dev.tsv
71766986e9bef80118d60b989bdbd3ed965a845db6986847cbfd791fa00990b3  miracl/topics/topics.miracl-v1.0-fi-dev.tsv
dd471f3a0a594d212b30495f8b1d9759451aea399b44e02de6ca9c5550930106  miracl/topics/topics.miracl-v1.0-fr-dev.tsv
94bed8e649806246f59edfb6434ea0c59920a44f2f60a56e01d205c6bf58ef60  miracl/topics/topics.miracl-v1.0-hi-dev.tsv
c5d9d5de2913beeb003ee0ef63e4537c2f632940ed077bfb2e9e8a3b5943096d  miracl/topics/topics.miracl-v1.0-id-dev.tsv
1904b9bf0fc52e1b684daa7539b2bcfdd90122e603ffbcf6b5065a0e210525b0  miracl/topics/topics.miracl-v1.0-ja-dev.tsv
a365552cfc997a8915e948a3b5994883f641e7c3f12b6af87bbfaf89729e32a8  miracl/topics/topics.miracl-v1.0-ko-dev.tsv
91a7c3b6d21f79a12b5330f0a62811962f9370a0bf539cba8b3fecaa095f0616  miracl/topics/topics.miracl-v1.0-ru-dev.tsv
15cde3f614cb75b3106fb4606a16162140ee157da22c4a57aae756571788b722  miracl/topics/topics.miracl-v1.0-sw-dev.tsv
3ac8a9a20bdf93ffcc36d554a5fff76ec4435131ae995010814df5881fff07d6  miracl/topics/topics.miracl-v1.0-te-dev.tsv
6ef23316d1224d9fef9e3f8bc2fdf527dad1a3bba98657617398c226503f5a46  miracl/topics/topics.miracl-v1.0-th-dev.tsv
b24558e43e1965d5cfe7440a5bf3bf66d70529474ff76e64bfa72026129b2d2e  miracl/topics/topics.miracl-v1.0-yo-dev.tsv
5b284a9aabf08bb2d1c88ed7ea276025c9d23846457c5350dc8d391b5e0d0a13  miracl/topics/topics.miracl-v1.0-zh-dev.tsv
3670a7804dedd5a602dad0661f6adb1e65b197829d5571f428e0af7fc46aa313  miracl/qrels/qrels.miracl-v1.0-ar-dev.tsv
0aab3bcb0bbc5d3e5ed1566a9e3965800239438b5b5f68d5b6bb4acb7f0fec0e  miracl/qrels/qrels.miracl-v1.0-bn-dev.tsv
5d4a0d7ac42c7839a0513ba6deb6b27fc62803f318be8a7c411e10dbbde7578c  miracl/qrels/qrels.miracl-v1.0-de-dev.tsv
a0af836c300e85088c4d73449492e2378280f967cac032853c9e11f3bc8a8d81  miracl/qrels/qrels.miracl-v1.0-en-dev.tsv
2d9441de1e25d7d2faf54f757db618ad5a2927337862a367f1a60e87ef7e40b2  miracl/qrels/qrels.miracl-v1.0-es-dev.tsv
3cec8ea8fb1f056110e5282df3aa37e14fb5f44c6f885528b6072c0243c1efc4  miracl/qrels/qrels.miracl-v1.0-fa-dev.tsv
4e534e96878729bd2566233d7499c991463052d91d34738dfe84d79f110255cd  miracl/qrels/qrels.miracl-v1.0-fi-dev.tsv
823e8f6fd297064d67efe37991cd3953414dc040c290f249b0895925f03509ad  miracl/qrels/qrels.miracl-v1.0-fr-dev.tsv
4cec99e7012ffca7fd129eeea01f37984bb21702706a8398208e8fba1c14e963  miracl/qrels/qrels.miracl-v1.0-hi-dev.tsv
6270863499b1be946be0883e8815b52ffb21e56181e9dc67596eaeb61494a61c  miracl/qrels/qrels.miracl-v1.0-id-dev.tsv
1e2a60ba96b889bd076adea950e7e83a2d083f671955a5ab3e9bdc332b492e5f  miracl/qrels/qrels.miracl-v1.0-ja-dev.tsv
88827ccc5b64e531b25f70eef30202d33daa9bfa3ac8cceadf5cdbd5ca5034df  miracl/qrels/qrels.miracl-v1.0-ko-dev.tsv
f877b43c7f53b76aab25e406e5a607ef1c5adba4ffaa11e1b252a4326735a19b  miracl/qrels/qrels.miracl-v1.0-ru-dev.tsv
a1e6438ac732dabd9a24fd5c8dfc0c64168aea81ff477d8b1986fde5ad193a63  miracl/qrels/qrels.miracl-v1.0-sw-dev.tsv
576a7ded402697a7bb521b4b8bb1a27806b927556001450405d3a5b85590a0c9  miracl/qrels/qrels.miracl-v1.0-te-dev.tsv
81097e891775f67a9b98d41309f9c452dc4e09572b0cbf4952d4107ed0fe1407  miracl/qrels/qrels.miracl-v1.0-th-dev.tsv
39a219ef0b593f6056e4ad1d65b9c03345730efa5107f0abd4a4a44ef2f6f0d2  miracl/qrels/qrels.miracl-v1.0-yo-dev.tsv
5546474d3dc8139014e6571e9f4041848bb0a314ca6d2d4bac708174d71c59eb  miracl/qrels/qrels.miracl-v1.0-zh-dev.tsv
"""
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

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (XQUAD_R, MLQA_R, MIRACL)}
LAREQA_BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (XQUAD_R, MLQA_R)}
