"""XQuAD-R and MLQA-R as one retrieval set: every question and every candidate sentence of every language.

The set is built exactly as SPEC §4.1: candidates are all sentences of all paragraphs of all
languages (identical strings stay separate candidates), and a question's relevant candidates are the
answer sentences of every language version sharing its id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from langmix.data.benchmarks import LAREQA_BENCHMARKS, Benchmark
from langmix.data.fetch import benchmark_root, fetch
from langmix.data.squad import Skipped, SquadFile, read_squad_file
from langmix.errors import DataError, LangmixError
from langmix.paths import data_dir

CANDIDATE_MODES = ("sentence", "sentence+paragraph")


@dataclass
class LareqaSet:
    """Questions and candidates of all languages, as flat arrays indexed by position."""

    name: str
    languages: tuple[str, ...]
    q_text: list[str]
    q_id: list[str]
    q_lang: np.ndarray  # int index into languages
    q_answer: np.ndarray  # candidate index of the answer sentence in the question's own language
    c_text: list[str]  # the sentence, context[start:end]
    c_lang: np.ndarray
    c_paragraph: np.ndarray  # index into paragraphs
    paragraphs: list[str]
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> {path, sha256}
    skipped: list[Skipped] = field(default_factory=list)
    max_questions: int | None = None

    @property
    def n_questions(self) -> int:
        return len(self.q_text)

    @property
    def n_candidates(self) -> int:
        return len(self.c_text)

    def candidate_texts(self, mode: str = "sentence") -> list[str]:
        """Text fed to the encoder: the sentence, or the sentence followed by its paragraph (LAReQA)."""
        if mode == "sentence":
            return list(self.c_text)
        if mode == "sentence+paragraph":
            return [f"{s} {self.paragraphs[p]}" for s, p in zip(self.c_text, self.c_paragraph, strict=True)]
        raise LangmixError(f"unknown candidate mode {mode!r}; choose one of {', '.join(CANDIDATE_MODES)}")

    def relevant(self) -> np.ndarray:
        """``(n_questions, n_languages)`` candidate index of each language version's answer, -1 if absent."""
        rel = np.full((self.n_questions, len(self.languages)), -1, dtype=np.int64)
        by_id: dict[str, list[int]] = {}
        for i, qid in enumerate(self.q_id):
            by_id.setdefault(qid, []).append(i)
        for group in by_id.values():
            for i in group:
                for j in group:
                    rel[i, self.q_lang[j]] = self.q_answer[j]
        return rel


def _folder(bench: Benchmark, data_root: str | Path | None, download: bool) -> Path:
    """The set's folder; with ``download`` and no data folder set, fetch it into the cache first."""
    if download and data_root is None and data_dir() is None:
        fetch([bench.name])
    folder = benchmark_root(bench, data_root) / bench.folder
    if not folder.is_dir():
        raise DataError(folder, f"folder not found (expected {bench.name} files <lang>.json under it)")
    if not any(folder.glob("*.json")):
        raise DataError(folder, f"no <lang>.json files in the {bench.name} folder")
    return folder


def check_max_questions(value: object) -> int | None:
    """``value`` if it is a usable per-language cap: None (all questions) or an integer >= 1. Zero or a
    negative number would evaluate nothing or silently drop questions (a slice ``[:-1]``)."""
    if value is None or (type(value) is int and value >= 1):
        return value
    raise LangmixError(
        f"max questions must be at least 1 (or 'all' / None for every question), got {value!r}"
    )


def _select_questions(files: list[SquadFile], max_questions: int | None) -> list[set[str] | None]:
    """Ids kept per language: the same ids across languages where possible, so Cr. pairs stay populated."""
    if max_questions is None:
        return [None] * len(files)
    count: dict[str, int] = {}
    order: dict[str, int] = {}
    for f in files:
        for q in f.questions:
            count[q.id] = count.get(q.id, 0) + 1
            order.setdefault(q.id, len(order))
    rank = {qid: (-count[qid], order[qid]) for qid in count}
    return [set(sorted((q.id for q in f.questions), key=rank.__getitem__)[:max_questions]) for f in files]


def load_lareqa(
    name: str,
    *,
    languages: Sequence[str] | None = None,
    data_root: str | Path | None = None,
    max_questions: int | None = None,
    strict: bool = True,
    download: bool = False,
) -> LareqaSet:
    """Load XQuAD-R (``"xquad-r"``) or MLQA-R (``"mlqa-r"``).

    ``data_root`` (default ``$LANGMIX_DATA_DIR``) holds ``lareqa/<name>/<lang>.json``; without one the
    files come from langmix's cache (``langmix data fetch``), fetched and sha256-checked first when
    ``download`` is true.
    ``max_questions`` caps questions per language for quick looks; the candidate pool is never cut.
    """
    if name not in LAREQA_BENCHMARKS:
        raise LangmixError(f"unknown LAReQA set {name!r}; choose one of {', '.join(LAREQA_BENCHMARKS)}")
    check_max_questions(max_questions)
    bench = LAREQA_BENCHMARKS[name]
    langs = tuple(languages) if languages else bench.languages
    unknown = [lang for lang in langs if lang not in bench.languages]
    if unknown:
        raise LangmixError(
            f"{name}: unknown language code(s) {', '.join(unknown)}; {name} has {', '.join(bench.languages)}"
        )
    if len(set(langs)) != len(langs):
        raise LangmixError(f"{name}: a language is listed twice in {', '.join(langs)}")
    folder = _folder(bench, data_root, download)
    files = [read_squad_file(folder / f"{lang}.json", lang, strict=strict) for lang in langs]
    for f in files:
        if not f.questions:
            raise DataError(f.path, "no usable questions")
    return _flatten(name, langs, files, max_questions)


def _flatten(
    name: str, langs: tuple[str, ...], files: list[SquadFile], max_questions: int | None
) -> LareqaSet:
    """The languages' questions and candidates as one set of flat arrays, in language order."""
    keep = _select_questions(files, max_questions)
    out = LareqaSet(
        name=name,
        languages=langs,
        q_text=[],
        q_id=[],
        q_lang=np.zeros(0),
        q_answer=np.zeros(0),
        c_text=[],
        c_lang=np.zeros(0),
        c_paragraph=np.zeros(0),
        paragraphs=[],
        max_questions=max_questions,
    )
    q_lang, q_answer, c_lang, c_par = [], [], [], []
    for li, (f, ids) in enumerate(zip(files, keep, strict=True)):
        c0, p0 = len(out.c_text), len(out.paragraphs)
        out.paragraphs.extend(f.paragraphs)
        out.c_text.extend(s.text for s in f.sentences)
        c_lang.extend([li] * len(f.sentences))
        c_par.extend(p0 + s.paragraph for s in f.sentences)
        for q in f.questions:
            if ids is None or q.id in ids:
                out.q_text.append(q.text)
                out.q_id.append(q.id)
                q_lang.append(li)
                q_answer.append(c0 + q.sentence)
        out.files[f.lang] = {"path": str(f.path), "sha256": f.sha256}
        out.skipped.extend(f.skipped)
    out.q_lang, out.q_answer = np.asarray(q_lang, np.int64), np.asarray(q_answer, np.int64)
    out.c_lang, out.c_paragraph = np.asarray(c_lang, np.int64), np.asarray(c_par, np.int64)
    return out


def checksum_mismatches(data: LareqaSet) -> list[str]:
    """Languages whose file differs from the pinned official release (reported, not fatal: users may
    evaluate their own corrected copy, but the report must say so)."""
    bench = LAREQA_BENCHMARKS[data.name]
    return [lang for lang, info in data.files.items() if info["sha256"] != bench.checksum(f"{lang}.json")]
