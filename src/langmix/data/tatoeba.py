"""Tatoeba test sets (LASER): for each of 112 languages, sentences parallel with English.

Line i of ``tatoeba.<xxx>-eng.<xxx>`` translates line i of ``tatoeba.<xxx>-eng.eng``; the English sides
differ between languages, so each set is parallel with English only. Used for the bitext-retrieval
evaluation (``langmix evaluate tatoeba``) and as unlabelled text per language (``langmix debias``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from langmix.data.benchmarks import TATOEBA, TATOEBA_LANGUAGES
from langmix.data.fetch import benchmark_root
from langmix.errors import DataError, LangmixError


@dataclass(frozen=True)
class TatoebaPair:
    """One language's test set: ``sentences[i]`` translates ``english[i]``."""

    lang: str  # ISO 639-3, e.g. "deu"
    sentences: tuple[str, ...]
    english: tuple[str, ...]


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "file not found (see ../shared/data/tatoeba/SOURCE.md)") from None
    except UnicodeDecodeError as err:
        line = text_line_of(path.read_bytes(), err.start)
        raise DataError(path, f"not valid UTF-8 ({err.reason})", record=f"line {line}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataError(path, "empty sentence", record=f"line {number}")
    return lines


def text_line_of(data: bytes, offset: int) -> int:
    """The 1-based line number holding byte ``offset``."""
    return data.count(b"\n", 0, offset) + 1


def check_languages(langs: Iterable[str]) -> list[str]:
    """``langs`` in the given order, each checked against the 112 Tatoeba codes (one line if not)."""
    langs = list(dict.fromkeys(langs))
    unknown = [lang for lang in langs if lang not in TATOEBA_LANGUAGES]
    if unknown:
        raise LangmixError(
            f"tatoeba: unknown language code(s) {', '.join(unknown)}; the sets use ISO 639-3 codes such as "
            "deu, cmn, swh (`langmix data list` names the benchmark)"
        )
    return langs


def read_tatoeba(lang: str, data_root: str | Path | None = None) -> TatoebaPair:
    """Read one language's set, checking that both sides have the same number of lines."""
    (lang,) = check_languages([lang])
    folder = benchmark_root(TATOEBA, data_root) / TATOEBA.folder
    xx = _read_lines(folder / f"tatoeba.{lang}-eng.{lang}")
    en_path = folder / f"tatoeba.{lang}-eng.eng"
    en = _read_lines(en_path)
    if len(xx) != len(en):
        problem = f"{len(en)} lines, but tatoeba.{lang}-eng.{lang} has {len(xx)} (line i translates line i)"
        raise DataError(en_path, problem)
    return TatoebaPair(lang, tuple(xx), tuple(en))


def load_tatoeba(
    langs: Iterable[str] | None = None, data_root: str | Path | None = None
) -> list[TatoebaPair]:
    """The sets of ``langs`` (default: all 112, sorted by code)."""
    return [read_tatoeba(lang, data_root) for lang in check_languages(langs or TATOEBA_LANGUAGES)]


def tatoeba_files(
    langs: Iterable[str] | None = None, data_root: str | Path | None = None
) -> tuple[Path, list[Path]]:
    """(data root, the two files of each set of ``langs``; default all 112): what an evaluation read, for
    its identity."""
    root = benchmark_root(TATOEBA, data_root)
    folder = root / TATOEBA.folder
    files = []
    for lang in check_languages(langs or TATOEBA_LANGUAGES):
        files += [folder / f"tatoeba.{lang}-eng.{lang}", folder / f"tatoeba.{lang}-eng.eng"]
    return root, files
