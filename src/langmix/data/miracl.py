"""MIRACL (SPEC §4.2): dev topics and qrels from TSV files, the corpus through ``datasets`` for users online.

Offline data (``$LANGMIX_DATA_DIR/miracl/``, see its SOURCE.md)::

    topics/topics.miracl-v1.0-<lang>-dev.tsv    qid <TAB> query
    qrels/qrels.miracl-v1.0-<lang>-dev.tsv      qid Q0 docid rel      (rel 1 relevant, 0 judged non-relevant)

The corpus (about 106M passages, Wikipedia) is only on the Hugging Face hub, as gzipped JSON lines
``miracl-corpus-v1.0-<lang>/docs-<i>.jsonl.gz`` with fields ``docid``, ``title``, ``text``.
:func:`iter_miracl_corpus` streams it with ``datasets`` (``json`` builder over ``hf://`` paths, since
``datasets`` 4 no longer runs the dataset's loading script), or reads a local folder in the same layout.
Nothing is downloaded at import time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from langmix.data.beir import Passage, Qrels, Queries, load_qrels, load_queries, passage_from_record
from langmix.errors import DataError, LangmixError
from langmix.paths import data_dir

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
MIRACL_LICENCE = "topics/qrels Apache-2.0; corpus Wikipedia text, CC BY-SA 4.0"


@dataclass
class MiraclTopics:
    """One language's dev queries and qrels."""

    lang: str
    queries: Queries
    qrels: Qrels


def check_languages(languages: Sequence[str] | None) -> tuple[str, ...]:
    langs = tuple(languages) if languages else MIRACL_LANGUAGES
    unknown = [lang for lang in langs if lang not in MIRACL_LANGUAGES]
    if unknown:
        raise LangmixError(
            f"miracl: unknown language code(s) {', '.join(unknown)}; MIRACL has {', '.join(MIRACL_LANGUAGES)}"
        )
    if len(set(langs)) != len(langs):
        raise LangmixError(f"miracl: a language is listed twice in {', '.join(langs)}")
    return langs


def _root(data_root: str | Path | None) -> Path:
    root = Path(data_root) if data_root is not None else data_dir()
    if root is None:
        raise LangmixError(
            "miracl: no data folder; set LANGMIX_DATA_DIR (or pass --data-dir) to a folder holding "
            "miracl/topics/*.tsv and miracl/qrels/*.tsv"
        )
    return root / "miracl" if (root / "miracl").is_dir() else root


def topics_path(lang: str, data_root: str | Path | None = None, split: str = "dev") -> Path:
    return _root(data_root) / "topics" / f"topics.miracl-v1.0-{lang}-{split}.tsv"


def qrels_path(lang: str, data_root: str | Path | None = None, split: str = "dev") -> Path:
    return _root(data_root) / "qrels" / f"qrels.miracl-v1.0-{lang}-{split}.tsv"


def load_miracl_topics(
    lang: str, data_root: str | Path | None = None, *, split: str = "dev", strict: bool = True
) -> MiraclTopics:
    """Queries and qrels of one language. ``strict`` checks the dev query count against MIRACL v1.0's and that
    topics and qrels cover the same queries."""
    (lang,) = check_languages([lang])
    tpath, qpath = topics_path(lang, data_root, split), qrels_path(lang, data_root, split)
    queries = load_queries(tpath, lang=lang)
    qrels = load_qrels(qpath)
    if strict and split == "dev" and len(queries) != MIRACL_DEV_QUERIES[lang]:
        raise DataError(
            tpath, f"{len(queries)} queries, MIRACL v1.0 dev {lang} has {MIRACL_DEV_QUERIES[lang]}"
        )
    if strict:
        known = set(queries.ids)
        missing = [q for q in qrels.judgments if q not in known]
        if missing:
            raise DataError(qpath, f"{len(missing)} judged queries have no topic, e.g. {missing[0]!r}")
    return MiraclTopics(lang=lang, queries=queries, qrels=qrels)


def miracl_data_files(lang: str, source: str | Path = MIRACL_HUB, revision: str | None = None) -> str:
    """The file pattern of a language's corpus under ``source`` (the hub, or a local copy of its layout)."""
    source = str(source)
    if source.startswith("hf://"):
        base = f"{source}@{revision}" if revision else source
        return f"{base}/miracl-corpus-v1.0-{lang}/docs-*.jsonl.gz"
    folder = Path(source) / f"miracl-corpus-v1.0-{lang}"
    if not folder.is_dir():
        raise DataError(
            folder,
            f"no MIRACL corpus folder for {lang!r} (expected miracl-corpus-v1.0-{lang}/docs-*.jsonl[.gz])",
        )
    files = sorted(folder.glob("docs-*.jsonl*"))
    if not files:
        raise DataError(folder, "no docs-*.jsonl[.gz] files")
    suffix = ".jsonl.gz" if all(f.name.endswith(".jsonl.gz") for f in files) else ".jsonl"
    return str(folder / f"docs-*{suffix}")


def iter_miracl_corpus(
    lang: str,
    *,
    source: str | Path = MIRACL_HUB,
    revision: str | None = None,
    streaming: bool = True,
) -> Iterator[Passage]:
    """Stream a language's MIRACL passages (``title + " " + text`` is ``Passage.contents``).

    ``source`` is ``hf://datasets/miracl/miracl-corpus`` (needs a network and downloads lazily) or a local
    folder with the hub's layout. ``revision`` pins a hub commit. Records are validated as any corpus line
    (id, text, optional title); a bad record raises :class:`DataError` naming its position.
    """
    (lang,) = check_languages([lang])
    import datasets  # heavy import: only when a corpus is actually read

    pattern = miracl_data_files(lang, source, revision)
    try:
        ds = datasets.load_dataset("json", data_files=pattern, split="train", streaming=streaming)
    except (FileNotFoundError, ConnectionError, OSError) as exc:
        raise LangmixError(f"miracl corpus {lang}: cannot open {pattern}: {exc}") from None
    for i, row in enumerate(ds):
        yield passage_from_record(row, pattern, f"passage {i + 1}", lang)
