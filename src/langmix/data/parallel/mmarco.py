"""mMARCO training triples through ``datasets``; rows are parallel by position across languages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langmix.data.parallel.items import ParallelDataset, ParallelItem, ParallelText
from langmix.errors import DataError, LangmixError

MMARCO_HUB = "unicamp-dl/mmarco"
# mMARCO's language names (its dataset configs) by ISO code.
MMARCO_LANGUAGES = {
    "ar": "arabic",
    "de": "german",
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "hi": "hindi",
    "id": "indonesian",
    "it": "italian",
    "ja": "japanese",
    "nl": "dutch",
    "pt": "portuguese",
    "ru": "russian",
    "vi": "vietnamese",
    "zh": "chinese",
}

Row = tuple[str, str, str | None]


def _open(lang: str, path: str | Path, split: str, streaming: bool) -> Any:
    """One language's split as a ``datasets`` dataset (hub config, or ``<folder>/<language name>/``)."""
    import datasets  # heavy import: only when mMARCO is actually read

    if lang not in MMARCO_LANGUAGES:
        raise LangmixError(f"mMARCO has no language {lang!r}; it has {', '.join(sorted(MMARCO_LANGUAGES))}")
    config = MMARCO_LANGUAGES[lang]
    try:
        if Path(path).is_dir():
            if not (Path(path) / config).is_dir():
                raise DataError(Path(path) / config, f"folder for mMARCO language {config!r} not found")
            ds = datasets.load_dataset(str(path), data_dir=config, split=split, streaming=streaming)
        else:
            ds = datasets.load_dataset(str(path), config, split=split, streaming=streaming)
    except DataError:
        raise
    except Exception as exc:  # datasets raises many kinds; one readable line for the user
        raise LangmixError(f"mMARCO {config} ({path}, split {split}): could not load: {exc}") from None
    names = set(ds.column_names or [])
    if not {"query", "positive"} <= names:
        raise DataError(
            f"{path}/{config}", f"expected columns query, positive[, negative]; found {sorted(names)}"
        )
    return ds


def _rows(ds: Any, max_items: int | None, hard_negatives: bool) -> list[Row]:
    rows = []
    for n, row in enumerate(ds):
        if max_items is not None and n >= max_items:
            break
        rows.append((row["query"], row["positive"], row.get("negative") if hard_negatives else None))
    return rows


def load_mmarco(
    languages: Sequence[str],
    *,
    path: str | Path = MMARCO_HUB,
    split: str = "train",
    max_items: int | None = None,
    streaming: bool = False,
    hard_negatives: bool = True,
) -> ParallelDataset:
    """mMARCO training triples through ``datasets``: one config per language (``english``, ``german``...),
    columns ``query``, ``positive``, ``negative``; row *i* of every language is the translation of row *i*
    of the others, so the row index is the parallel id.

    ``path`` is the Hub id or a local folder in the same layout (``<folder>/<language name>/*.jsonl`` or
    ``*.parquet``), which is how the tests run it offline. ``max_items`` keeps the first rows only
    (with ``streaming=True`` nothing else is downloaded).
    """
    columns = {
        lang: _rows(_open(lang, path, split, streaming), max_items, hard_negatives) for lang in languages
    }
    counts = {lang: len(rows) for lang, rows in columns.items()}
    if len(set(counts.values())) > 1:
        raise DataError(
            str(path),
            f"languages have different row counts {counts}; mMARCO rows must be parallel by position",
        )
    items = []
    for i in range(next(iter(counts.values()))):
        texts = {}
        for lang, rows in columns.items():
            q, p, neg = rows[i]
            texts[lang] = ParallelText(q.strip(), p.strip(), (neg.strip(),) if neg else ())
        items.append(ParallelItem(str(i), texts))
    return ParallelDataset("mmarco", items, source=f"{path} ({split})", complete=True)
