"""Parallel items from SQuAD-format files, one per language, linked by the question ``id``.

XQuAD-R / MLQA-R and XTREME translate-train. Query = question, positive = the sentence holding the
answer (optionally followed by its paragraph). Each file is parsed once, by
:func:`langmix.data.squad.read_squad_file`; files without ``sentence_breaks`` (translate-train) are
split into sentences there with :func:`langmix.data.squad.split_sentences`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from langmix.data.parallel.items import ParallelDataset, ParallelItem, ParallelText, check_language_code
from langmix.data.parallel.negatives import NegativeCounts, SentencePool, negatives_rng
from langmix.data.squad import Question, Sentence, SquadFile, read_squad_file, split_sentences
from langmix.errors import DataError, LangmixError

PASSAGE_MODES = ("sentence", "sentence+paragraph")
logger = logging.getLogger(__name__)
# Two-letter token at the end of a file stem: "de", "mlqa-r.de", "squad.translate.train.en-de".
_FILE_LANG_RE = re.compile(r"(?:^|[._-])([a-z]{2})$")

Files = str | Path | Mapping[str, str | Path]


def language_from_filename(path: str | Path) -> str | None:
    """The two-letter code a file name ends with (``de.json``, ``train.en-de.json``), or None."""
    stem = Path(path).name.split(".json")[0]
    match = _FILE_LANG_RE.search(stem)
    return match.group(1) if match else None


def _resolve_mapping(files: Mapping[str, str | Path]) -> dict[str, Path]:
    resolved = {}
    for lang, path in files.items():
        path = Path(path)
        check_language_code(lang, path)
        named = language_from_filename(path)
        if named is not None and named != lang.split("-")[0].split("_")[0]:
            raise DataError(
                path,
                f"file name says language {named!r} but it was given as {lang!r}; "
                "rename the file or fix the mapping",
            )
        resolved[lang] = path
    return resolved


def _resolve_folder(folder: Path) -> dict[str, Path]:
    if folder.is_file():
        raise LangmixError(
            f"{folder}: one SQuAD file holds one language; give a folder of <lang>.json files or a "
            "mapping language -> file"
        )
    if not folder.is_dir():
        raise DataError(folder, "folder not found")
    resolved: dict[str, Path] = {}
    for path in sorted(folder.glob("*.json")):
        lang = language_from_filename(path)
        if lang is None:
            raise DataError(path, "cannot tell the language from the file name (expected <lang>.json)")
        if lang in resolved:
            raise DataError(path, f"a second file for language {lang!r} (first: {resolved[lang].name})")
        resolved[lang] = path
    if not resolved:
        raise DataError(folder, "no <lang>.json files in the folder")
    return resolved


def _resolve_files(files: Files, languages: Sequence[str] | None) -> dict[str, Path]:
    resolved = _resolve_mapping(files) if isinstance(files, Mapping) else _resolve_folder(Path(files))
    if not languages:
        return resolved
    missing = [lang for lang in languages if lang not in resolved]
    if missing:
        raise LangmixError(
            f"{files}: no file for language(s) {', '.join(missing)}; found {', '.join(sorted(resolved))}"
        )
    return {lang: resolved[lang] for lang in languages}


def load_squad_parallel(
    files: Files,
    *,
    name: str | None = None,
    languages: Sequence[str] | None = None,
    passage: str = "sentence",
    strict: bool = True,
    complete: bool = False,
    hard_negatives: int = 0,
    seed: int = 0,
) -> ParallelDataset:
    """SQuAD-format files, one per language, whose questions share ids across languages.

    ``files`` is a folder of ``<lang>.json`` files or a mapping language -> file (the file's own name,
    when it ends in a language code, must agree). Query = question; positive = the sentence holding
    ``answer_start`` (``passage="sentence+paragraph"`` appends the paragraph, as LAReQA candidates do).
    ``hard_negatives`` > 0 gives each version that many other sentences of the answer's paragraph as hard
    negatives, drawn per ``seed`` (:mod:`langmix.data.parallel.negatives`: short paragraphs are topped up).
    """
    if passage not in PASSAGE_MODES:
        raise LangmixError(f"unknown passage mode {passage!r}; choose one of {', '.join(PASSAGE_MODES)}")
    if hard_negatives < 0:
        raise LangmixError(f"hard negatives must be >= 0, got {hard_negatives}")
    resolved = _resolve_files(files, languages)
    by_id: dict[str, dict[str, ParallelText]] = {}
    skipped: list[str] = []
    counts = NegativeCounts()
    for lang, path in resolved.items():
        squad = read_squad_file(path, lang, strict=strict, split=split_sentences)
        skipped.extend(str(s) for s in squad.skipped)
        if not squad.questions:
            raise DataError(path, "no usable questions")
        pool = None
        if hard_negatives:  # every sentence is a candidate negative
            texts = [_candidate(squad, sentence, passage) for sentence in squad.sentences]
            pool = SentencePool(texts, [sentence.paragraph for sentence in squad.sentences])
        for q in squad.questions:
            positive = (
                pool.texts[q.sentence] if pool else _candidate(squad, squad.sentences[q.sentence], passage)
            )
            negatives = _draw(pool, q, lang, hard_negatives, seed, counts, path) if pool else ()
            by_id.setdefault(q.id, {})[lang] = ParallelText(q.text.strip(), positive, negatives)
    if isinstance(files, Mapping):
        source, default_name = ", ".join(str(p) for p in resolved.values()), "squad"
    else:
        source, default_name = str(files), Path(files).name
    items = [ParallelItem(qid, texts) for qid, texts in by_id.items()]
    name = name if name is not None else default_name
    if hard_negatives:
        logger.info("%s: %d hard negatives per row: %s", name, hard_negatives, counts.describe())
    return ParallelDataset(name, items, source=source, complete=complete, skipped=skipped)


def _candidate(squad: SquadFile, sentence: Sentence, passage: str) -> str:
    """A sentence as a training passage: the sentence, or the sentence followed by its paragraph."""
    text = sentence.text
    if passage == "sentence+paragraph":
        text = f"{text} {squad.paragraphs[sentence.paragraph]}"
    return text.strip()


def _draw(
    pool: SentencePool, q: Question, lang: str, n: int, seed: int, counts: NegativeCounts, path: Path
) -> tuple[str, ...]:
    try:
        return pool.draw(q.sentence, n, negatives_rng(seed, lang, q.id), counts)
    except ValueError as exc:
        raise DataError(
            path, f"{n} hard negatives per question: {exc}; lower --hard-negatives", q.record
        ) from None
