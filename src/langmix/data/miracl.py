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
from langmix.data.benchmarks import (
    MIRACL,
    MIRACL_CORPUS_REVISION,
    MIRACL_CORPUS_SIZES,
    MIRACL_DEV_QUERIES,
    MIRACL_HUB,
    MIRACL_LANGUAGES,
    MIRACL_LICENCE,
)
from langmix.data.fetch import benchmark_root
from langmix.errors import DataError, LangmixError

__all__ = [  # the constants live in langmix.data.benchmarks; these names stay importable from here
    "MIRACL_CORPUS_REVISION",
    "MIRACL_CORPUS_SIZES",
    "MIRACL_DEV_QUERIES",
    "MIRACL_HUB",
    "MIRACL_LANGUAGES",
    "MIRACL_LICENCE",
    "MiraclTopics",
    "check_languages",
    "iter_miracl_corpus",
    "load_miracl_topics",
    "miracl_data_files",
    "qrels_path",
    "topics_path",
]


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
    """``<data root>/miracl``, or the data root itself when it is already the MIRACL folder."""
    root = benchmark_root(MIRACL, data_root)
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
    """The file pattern of a language's corpus under ``source`` (the hub, or a local copy of its layout).

    ``revision`` is written into a hub pattern as given; :func:`iter_miracl_corpus` always passes one.
    """
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
    revision: str | None = MIRACL_CORPUS_REVISION,
    streaming: bool = True,
) -> Iterator[Passage]:
    """Stream a language's MIRACL passages (``title + " " + text`` is ``Passage.contents``).

    ``source`` is ``hf://datasets/miracl/miracl-corpus`` (needs a network and downloads lazily) or a local
    folder with the hub's layout. The hub is read at a pinned commit: ``revision``, or
    :data:`MIRACL_CORPUS_REVISION` when it is None. Records are validated as any corpus line (id, text,
    optional title); a bad record raises :class:`DataError` naming its position.
    """
    (lang,) = check_languages([lang])
    import datasets  # heavy import: only when a corpus is actually read

    pattern = miracl_data_files(lang, source, revision or MIRACL_CORPUS_REVISION)
    try:
        ds = datasets.load_dataset("json", data_files=pattern, split="train", streaming=streaming)
    except (FileNotFoundError, ConnectionError, OSError) as exc:
        raise LangmixError(f"miracl corpus {lang}: cannot open {pattern}: {exc}") from None
    for i, row in enumerate(ds):
        yield passage_from_record(row, pattern, f"passage {i + 1}", lang)
