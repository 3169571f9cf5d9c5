"""Corpora, queries and qrels in the BEIR layout, the one layout every retrieval stage consumes.

A BEIR folder holds::

    corpus.jsonl        {"_id": "d1", "title": "...", "text": "...", "lang": "sw"}   (title, lang optional)
    queries.jsonl       {"_id": "q1", "text": "...", "lang": "sw"}                   (lang optional)
    qrels/<split>.tsv   query-id <TAB> corpus-id <TAB> score    (header line; graded relevance, 0 = judged
                        non-relevant)

``corpus.jsonl.gz`` is read too; ``docid``/``id`` are accepted instead of ``_id`` (MIRACL's corpus files use
``docid``). Queries can also be a two-column TSV (``qid<TAB>text``, the MIRACL/Anserini topics format), and
qrels a four-column TREC file (``qid Q0 docid rel``). The text fed to the encoder for a passage is
``title + " " + text`` (just ``text`` when there is no title).

A ``lang`` must be a language code (``en``, ``pt-BR``: labels become file names); queries without one form
the group ``all``. Every malformed record, undecodable byte included, raises
:class:`~langmix.errors.DataError` naming the file and the line. A corpus
too large for memory is read with :func:`iter_corpus`, which streams and validates each line; the
encoder then checks doc ids for duplicates with bounded memory (see ``langmix.retrieval.shards``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from langmix.data.inputs import check_language_code, iter_lines
from langmix.errors import DataError, LangmixError

_ID_KEYS = ("_id", "docid", "id")
# TREC run and qrels files are whitespace separated: an id with a space, tab or newline cannot be written.
_BAD_ID = re.compile(r"\s")
# The group label of queries without a ``lang`` field; a query whose ``lang`` is this label would merge
# into that group, so a file holding both is refused (:func:`load_queries`).
UNLABELLED = "all"
# A first qrels line is skipped only when it is this header (BEIR's ``query-id corpus-id score`` and its
# common spellings); any other first line is data, so a bad grade there is an error, not a "header".
_QRELS_HEADER = re.compile(
    r"(query[-_]?id|qid|query)\s+((q0|iter(ation)?)\s+)?(corpus[-_]?id|doc[-_]?id|docno|doc|corpus)\s+"
    r"(score|rel(evance)?|label|grade|judg(e)?ment)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieval unit. ``contents`` is what the encoder sees: title + " " + text."""

    id: str
    text: str
    title: str = ""
    lang: str | None = None

    @property
    def contents(self) -> str:
        return passage_text(self.title, self.text)


def passage_text(title: str, text: str) -> str:
    """Title + " " + text, the MIRACL/BEIR convention; just the text when the title is empty."""
    return f"{title} {text}" if title else text


def check_id(value: object, path: Path | str, record: str, what: str = "id") -> str:
    """A usable id: a non-empty string (numbers are accepted and turned into strings) without whitespace."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(path, f"{what} must be a string, got {type(value).__name__}", record)
    value = str(value)
    if not value:
        raise DataError(path, f"empty {what}", record)
    if _BAD_ID.search(value):
        raise DataError(
            path, f"{what} {value!r} contains whitespace, which TREC run files cannot hold", record
        )
    return value


def _optional_str(obj: dict, key: str, path: Path, record: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataError(path, f"field {key!r} must be a string, got {type(value).__name__}", record)
    return value


def _optional_lang(obj: dict, path: Path, record: str) -> str | None:
    """The record's ``lang`` field, checked as a language code (labels become file names)."""
    lang = _optional_str(obj, "lang", path, record)
    return None if lang is None else check_language_code(lang, path, record)


def passage_from_record(obj: object, path: Path | str, record: str, lang: str | None = None) -> Passage:
    """Validate one corpus record (a JSON object) and turn it into a :class:`Passage`."""
    path = Path(path) if not isinstance(path, Path) else path
    if not isinstance(obj, dict):
        raise DataError(path, f"expected a JSON object, got {type(obj).__name__}", record)
    key = next((k for k in _ID_KEYS if k in obj), None)
    if key is None:
        raise DataError(path, "no doc id (expected one of the fields _id, docid, id)", record)
    doc_id = check_id(obj[key], path, record, "doc id")
    text = obj.get("text")
    if not isinstance(text, str):
        problem = "no 'text' field" if text is None else f"'text' must be a string, got {type(text).__name__}"
        raise DataError(path, problem, record)
    title = _optional_str(obj, "title", path, record) or ""
    record_lang = _optional_lang(obj, path, record)
    return Passage(id=doc_id, text=text, title=title, lang=record_lang if record_lang is not None else lang)


def _iter_json_lines(path: Path) -> Iterator[tuple[str, object]]:
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        record = f"line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg} at column {exc.colno})", record) from None
        yield record, obj


def corpus_file(path: str | Path) -> Path:
    """The corpus file of ``path``: the file itself, or ``corpus.jsonl[.gz]`` inside a BEIR folder."""
    path = Path(path)
    if path.is_dir():
        for name in ("corpus.jsonl", "corpus.jsonl.gz"):
            if (path / name).is_file():
                return path / name
        raise DataError(path, "no corpus.jsonl or corpus.jsonl.gz in this folder")
    if not path.is_file():
        raise DataError(path, "corpus file not found")
    return path


def iter_corpus(path: str | Path, *, lang: str | None = None) -> Iterator[Passage]:
    """Stream and validate the passages of a ``corpus.jsonl[.gz]`` (or of a BEIR folder), in file order.

    Memory stays constant whatever the file size; duplicate ids are NOT checked here (that needs memory
    proportional to the corpus) but by :func:`load_corpus` and by the sharded encoder.
    ``lang`` is the language given to passages without their own ``lang`` field.
    """
    path = corpus_file(path)
    for record, obj in _iter_json_lines(path):
        yield passage_from_record(obj, path, record, lang)


@dataclass
class Corpus:
    """An in-memory corpus: parallel lists indexed by position, with an id → position map."""

    ids: list[str]
    texts: list[str]
    titles: list[str]
    langs: list[str | None]
    path: str | None = None
    _position: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self._position:
            self._position = {doc_id: i for i, doc_id in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Passage]:
        for i in range(len(self.ids)):
            yield self.passage(i)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._position

    def passage(self, i: int) -> Passage:
        return Passage(id=self.ids[i], text=self.texts[i], title=self.titles[i], lang=self.langs[i])

    def contents(self, i: int) -> str:
        return passage_text(self.titles[i], self.texts[i])

    def get(self, doc_id: str) -> str | None:
        """The passage text (title + " " + text) of ``doc_id``, or None when it is not in the corpus."""
        i = self._position.get(doc_id)
        return None if i is None else self.contents(i)


def load_corpus(path: str | Path, *, lang: str | None = None) -> Corpus:
    """Read a whole ``corpus.jsonl[.gz]`` into memory, validating every line and refusing duplicate ids."""
    path = corpus_file(path)
    ids: list[str] = []
    texts: list[str] = []
    titles: list[str] = []
    langs: list[str | None] = []
    first: dict[str, str] = {}
    for record, obj in _iter_json_lines(path):
        p = passage_from_record(obj, path, record, lang)
        if p.id in first:
            raise DataError(path, f"duplicate doc id {p.id!r} (first on {first[p.id]})", record)
        first[p.id] = record
        ids.append(p.id)
        texts.append(p.text)
        titles.append(p.title)
        langs.append(p.lang)
    return Corpus(ids=ids, texts=texts, titles=titles, langs=langs, path=str(path))


@dataclass
class Queries:
    """Queries as parallel lists; ``langs[i]`` is None when the file gives no language."""

    ids: list[str]
    texts: list[str]
    langs: list[str | None]
    path: str | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def as_dict(self) -> dict[str, str]:
        return dict(zip(self.ids, self.texts, strict=True))

    def by_language(self) -> dict[str | None, Queries]:
        """Split by the ``lang`` field, in first-seen order of the languages."""
        groups: dict[str | None, list[int]] = {}
        for i, lang in enumerate(self.langs):
            groups.setdefault(lang, []).append(i)
        return {lang: self.subset(rows) for lang, rows in groups.items()}

    def subset(self, rows: Iterable[int]) -> Queries:
        rows = list(rows)
        return Queries(
            ids=[self.ids[i] for i in rows],
            texts=[self.texts[i] for i in rows],
            langs=[self.langs[i] for i in rows],
            path=self.path,
        )

    @classmethod
    def from_dict(cls, queries: dict[str, str], lang: str | None = None) -> Queries:
        return cls(ids=list(queries), texts=list(queries.values()), langs=[lang] * len(queries))


def load_queries(path: str | Path, *, lang: str | None = None) -> Queries:
    """Read ``queries.jsonl`` (BEIR) or a ``qid<TAB>text`` TSV (MIRACL topics).

    Refuses empty query texts, duplicate query ids and ``lang`` values that are not language codes, naming
    the line. ``lang`` is the language of queries without a ``lang`` field of their own; those without
    either form the group :data:`UNLABELLED`, so a query labelled ``"all"`` beside them is refused rather
    than merged into it.
    """
    path = Path(path)
    ids: list[str] = []
    texts: list[str] = []
    langs: list[str | None] = []
    first: dict[str, str] = {}
    first_label: dict[str | None, str] = {}

    def add(record: str, qid: object, text: object, q_lang: str | None) -> None:
        qid = check_id(qid, path, record, "query id")
        if not isinstance(text, str):
            raise DataError(path, f"query text must be a string, got {type(text).__name__}", record)
        if not text.strip():
            raise DataError(path, f"empty query text for query {qid!r}", record)
        if qid in first:
            raise DataError(path, f"duplicate query id {qid!r} (first on {first[qid]})", record)
        first[qid] = record
        ids.append(qid)
        texts.append(text)
        langs.append(q_lang if q_lang is not None else lang)
        first_label.setdefault(langs[-1], record)

    if ".jsonl" in path.suffixes or path.suffix == ".json":
        for record, obj in _iter_json_lines(path):
            if not isinstance(obj, dict):
                raise DataError(path, f"expected a JSON object, got {type(obj).__name__}", record)
            key = next((k for k in ("_id", "qid", "id", "query_id") if k in obj), None)
            if key is None:
                raise DataError(
                    path, "no query id (expected one of the fields _id, qid, id, query_id)", record
                )
            text = obj.get("text", obj.get("query"))
            if text is None:
                raise DataError(path, "no 'text' field", record)
            add(record, obj[key], text, _optional_lang(obj, path, record))
    else:
        for number, line in iter_lines(path):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            record = f"line {number}"
            if len(parts) != 2:
                raise DataError(
                    path, f"expected 'qid<TAB>query text', got {len(parts)} tab-separated fields", record
                )
            add(record, parts[0], parts[1], None)
    if not ids:
        raise DataError(path, "no queries in this file")
    if None in first_label and UNLABELLED in first_label:
        raise DataError(
            path,
            f"lang {UNLABELLED!r} names the group of queries without a lang field, and this file has both "
            f"(the first without one is on {first_label[None]}); give every query a language or none",
            first_label[UNLABELLED],
        )
    return Queries(ids=ids, texts=texts, langs=langs, path=str(path))


@dataclass
class Qrels:
    """Relevance judgements ``{qid: {docid: grade}}``; grade 0 = judged non-relevant (trec_eval semantics)."""

    judgments: dict[str, dict[str, int]]
    path: str | None = None

    def __len__(self) -> int:
        return len(self.judgments)

    def __contains__(self, qid: object) -> bool:
        return qid in self.judgments

    def __getitem__(self, qid: str) -> dict[str, int]:
        return self.judgments[qid]

    def n_relevant(self, qid: str) -> int:
        return sum(1 for g in self.judgments[qid].values() if g > 0)

    def subset(self, qids: Iterable[str]) -> Qrels:
        return Qrels({q: self.judgments[q] for q in qids if q in self.judgments}, self.path)

    def unknown_docs(self, known: Container[str]) -> UnknownDocs:
        """Judged doc ids absent from a corpus (``known`` supports ``in``): counted, never silently dropped.

        They stay in the qrels for scoring, as trec_eval would keep them: a relevant passage the corpus lacks
        can never be retrieved, so Recall and nDCG are lower than with the full corpus, and the report says
        how many there were.
        """
        pairs = relevant = 0
        queries: set[str] = set()
        examples: list[str] = []
        for qid, docs in self.judgments.items():
            for doc_id, grade in docs.items():
                if doc_id in known:
                    continue
                pairs += 1
                queries.add(qid)
                if grade > 0:
                    relevant += 1
                if len(examples) < 5:
                    examples.append(f"{qid}:{doc_id}")
        return UnknownDocs(pairs=pairs, relevant_pairs=relevant, queries=len(queries), examples=examples)


@dataclass(frozen=True)
class UnknownDocs:
    """Qrels rows whose doc id is not in the corpus that was searched."""

    pairs: int
    relevant_pairs: int
    queries: int
    examples: list[str]

    def as_dict(self) -> dict:
        return {
            "pairs": self.pairs,
            "relevant_pairs": self.relevant_pairs,
            "queries": self.queries,
            "examples": self.examples,
        }


def load_qrels(path: str | Path) -> Qrels:
    """Read qrels: TREC (``qid Q0 docid rel``, whitespace separated) or BEIR TSV (``query-id corpus-id score``
    with an optional header). A (query, doc) pair judged twice is an error, as is a non-integer grade; a
    first line is taken for a header only when it reads like one (``query-id corpus-id score``,
    ``qid docid rel``...), never merely because its grade is not a number."""
    path = Path(path)
    judgments: dict[str, dict[str, int]] = {}
    first: dict[tuple[str, str], int] = {}
    for number, line in iter_lines(path):
        parts = line.split()
        if not parts:
            continue
        record = f"line {number}"
        if not judgments and _QRELS_HEADER.fullmatch(" ".join(parts)):
            continue  # the header line
        if len(parts) == 4:
            qid, _, doc_id, grade = parts
        elif len(parts) == 3:
            qid, doc_id, grade = parts
        else:
            raise DataError(
                path, f"expected 'qid Q0 docid rel' or 'qid docid rel', got {len(parts)} fields", record
            )
        if not _is_int(grade):
            raise DataError(path, f"relevance {grade!r} is not an integer", record)
        key = (qid, doc_id)
        if key in first:
            raise DataError(
                path, f"query {qid!r} judges doc {doc_id!r} twice (first on line {first[key]})", record
            )
        first[key] = number
        judgments.setdefault(qid, {})[doc_id] = int(grade)
    if not judgments:
        raise DataError(path, "no judgements in this file")
    return Qrels(judgments, str(path))


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


@dataclass
class BeirDataset:
    """A BEIR folder: queries and qrels loaded, the corpus left on disk (stream it or load it on demand)."""

    root: Path
    split: str
    queries: Queries
    qrels: Qrels

    @property
    def corpus_path(self) -> Path:
        return corpus_file(self.root)

    def iter_corpus(self) -> Iterator[Passage]:
        return iter_corpus(self.corpus_path)

    def load_corpus(self) -> Corpus:
        return load_corpus(self.corpus_path)


def load_beir(root: str | Path, split: str = "test") -> BeirDataset:
    """Open a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``)."""
    root = Path(root)
    if not root.is_dir():
        raise LangmixError(f"{root}: not a folder (expected corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    corpus_file(root)  # fail early when the corpus is missing
    queries_path = next(
        (root / n for n in ("queries.jsonl", "queries.jsonl.gz", "queries.tsv") if (root / n).is_file()), None
    )
    if queries_path is None:
        raise DataError(root, "no queries.jsonl in this folder")
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise DataError(
            qrels_path,
            f"no qrels for split {split!r}" + (f"; splits here: {', '.join(have)}" if have else ""),
        )
    return BeirDataset(
        root=root, split=split, queries=load_queries(queries_path), qrels=load_qrels(qrels_path)
    )
