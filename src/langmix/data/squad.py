"""Read one SQuAD-v1.1-style file: the LAReQA format (with ``sentence_breaks``) or plain SQuAD.

Used by the LAReQA evaluation and by the training-data loaders: both need, per language, the
questions (with their shared id) and every sentence of every paragraph, with the sentence that
holds each answer. Files without ``sentence_breaks`` (XTREME translate-train) are read only when a
sentence splitter is given (:func:`split_sentences`); the evaluation never splits on its own.
Every problem names the file and the record (``data[i].paragraphs[j].qas[k]``). In strict mode
(the default) the first problem is an error; otherwise the bad paragraph or question is skipped and
listed in ``skipped`` so nothing disappears silently.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langmix.data.inputs import read_json_document
from langmix.errors import DataError

Splitter = Callable[[str], list[tuple[int, int]]]
_SENT_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？।])")


@dataclass(frozen=True)
class Skipped:
    path: str
    record: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.record}: {self.reason}"


@dataclass(frozen=True)
class Sentence:
    paragraph: int  # index into SquadFile.paragraphs
    start: int
    end: int
    text: str  # context[start:end], the text XTREME-R's evaluation uses (stripped when langmix split it)


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    sentence: int  # index into SquadFile.sentences of the sentence holding answer_start
    answer: str
    record: str


@dataclass
class SquadFile:
    lang: str
    path: Path
    sha256: str
    paragraphs: list[str] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_sentences(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of sentences: a break after . ! ? … followed by space, or after 。！？।."""
    spans, start = [], 0
    for match in _SENT_END.finditer(text):
        end = match.start()
        if end > start and text[start:end].strip():
            spans.append((start, end))
        start = match.end()
    if start < len(text) and text[start:].strip():
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


class _Problem(Exception):
    def __init__(self, record: str, reason: str):
        super().__init__(reason)
        self.record = record
        self.reason = reason


def _list_or_empty(value: Any) -> list:
    return value if isinstance(value, list) else []


def _has_sentence_breaks(doc: Any) -> bool:
    """Whether the file carries ``sentence_breaks``, judged on its first paragraph."""
    for article in _list_or_empty(doc.get("data")) if isinstance(doc, dict) else []:
        for paragraph in _list_or_empty(article.get("paragraphs")) if isinstance(article, dict) else []:
            if isinstance(paragraph, dict):
                return "sentence_breaks" in paragraph
    return False


def _check_disjoint(spans: list[tuple[int, int]], record: str) -> None:
    """Sentences of a paragraph may touch but not overlap: a duplicated or overlapping break would add a
    candidate twice (or a half sentence) to the pool and move answers to the wrong sentence."""
    order = sorted(range(len(spans)), key=lambda n: spans[n])
    for before, after in zip(order, order[1:], strict=False):
        if spans[after][0] < spans[before][1]:
            what = "duplicates" if spans[after] == spans[before] else "overlaps"
            first, second = sorted((before, after))
            raise _Problem(
                f"{record}.sentence_breaks[{second}]",
                f"[{spans[second][0]}, {spans[second][1]}) {what} sentence_breaks[{first}] = "
                f"[{spans[first][0]}, {spans[first][1]}); "
                "each character belongs to at most one sentence",
            )


def _sentences(paragraph: Any, record: str, split: Splitter | None) -> tuple[str, list[tuple[int, int]]]:
    if not isinstance(paragraph, dict):
        raise _Problem(record, "paragraph is not an object")
    context = paragraph.get("context")
    if not isinstance(context, str) or not (context.strip() if split else context):
        raise _Problem(record, "missing or empty 'context'")
    if split is not None:
        return context, split(context)
    breaks = paragraph.get("sentence_breaks")
    if not isinstance(breaks, list) or not breaks:
        raise _Problem(record, "missing or empty 'sentence_breaks'")
    spans = []
    for n, span in enumerate(breaks):
        ok = isinstance(span, list | tuple) and len(span) == 2 and all(type(x) is int for x in span)
        if not ok:
            raise _Problem(f"{record}.sentence_breaks[{n}]", f"expected [start, end] integers, got {span!r}")
        start, end = span
        if not 0 <= start < end <= len(context):
            raise _Problem(
                f"{record}.sentence_breaks[{n}]",
                f"offsets [{start}, {end}) outside the context of length {len(context)}",
            )
        spans.append((start, end))
    _check_disjoint(spans, record)
    return context, spans


def _question(qa: Any, record: str, spans: list[tuple[int, int]]) -> tuple[str, str, int, str]:
    if not isinstance(qa, dict):
        raise _Problem(record, "question is not an object")
    qid, text = qa.get("id"), qa.get("question")
    if not isinstance(qid, str) or not qid:
        raise _Problem(record, "missing 'id'")
    record = f"{record} (id={qid})"
    if not isinstance(text, str) or not text.strip():
        raise _Problem(record, "empty 'question'")
    answers = qa.get("answers")
    if not isinstance(answers, list) or not answers or not isinstance(answers[0], dict):
        raise _Problem(record, "no answer")
    start = answers[0].get("answer_start")
    if type(start) is not int:
        raise _Problem(record, f"'answer_start' is not an integer: {start!r}")
    hits = [n for n, (b, e) in enumerate(spans) if b <= start < e]
    if not hits:
        raise _Problem(record, f"answer_start={start} lies outside every sentence of its paragraph")
    return qid, text, hits[0], str(answers[0].get("text", ""))


def read_squad_file(
    path: str | Path, lang: str, *, strict: bool = True, split: Splitter | None = None
) -> SquadFile:
    """Parse ``path`` (a language's file); raise :class:`DataError` or skip-and-record problems.

    ``split``: the sentence splitter for a file without ``sentence_breaks`` (judged on its first
    paragraph); without one such a file is an error, as the LAReQA protocol needs the official breaks.
    """
    path = Path(path)
    doc, digest = read_json_document(path)
    if split is not None and _has_sentence_breaks(doc):
        split = None
    out = SquadFile(lang=lang, path=path, sha256=digest)
    articles = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(articles, list):
        raise DataError(path, "top level has no 'data' list (is this a SQuAD-format file?)")
    seen: dict[str, str] = {}

    def problem(exc: _Problem) -> None:
        if strict:
            raise DataError(path, exc.reason, exc.record)
        out.skipped.append(Skipped(str(path), exc.record, exc.reason))

    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            problem(_Problem(f"data[{a}]", "article has no 'paragraphs' list"))
            continue
        for p, paragraph in enumerate(paragraphs):
            record = f"data[{a}].paragraphs[{p}]"
            try:
                context, spans = _sentences(paragraph, record, split)
            except _Problem as exc:
                problem(exc)
                continue
            first = len(out.sentences)
            questions = []
            qas = paragraph.get("qas") or []
            if not isinstance(qas, list):
                problem(
                    _Problem(f"{record}.qas", f"'qas' must be a list of questions, got {type(qas).__name__}")
                )
                continue
            for k, qa in enumerate(qas):
                try:
                    qid, text, local, answer = _question(qa, f"{record}.qas[{k}]", spans)
                    if qid in seen:
                        raise _Problem(
                            f"{record}.qas[{k}]", f"duplicate question id {qid} (first at {seen[qid]})"
                        )
                except _Problem as exc:
                    problem(exc)
                    continue
                seen[qid] = f"{record}.qas[{k}]"
                questions.append(Question(qid, text, first + local, answer, f"{record}.qas[{k}]"))
            par_index = len(out.paragraphs)
            out.paragraphs.append(context)
            out.sentences.extend(
                Sentence(par_index, b, e, context[b:e].strip() if split else context[b:e]) for b, e in spans
            )
            out.questions.extend(questions)
    if not out.sentences:
        raise DataError(path, "no usable paragraphs (no sentence to retrieve)")
    return out
