"""The parallel data model: one item per id, each with a query and a positive passage in several languages.

A :class:`ParallelItem` is ``id -> language -> (query, positive passage, hard negatives)``. The batch
samplers (``langmix.batching``) build monolingual batches (query and passage in one language) and
cross-lingual batches (query in X, passage in Y != X) from the same items, and never put two rows of
one id in a batch. :func:`split_validation` holds out whole ids (an id is never on both sides).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langmix.data.inputs import check_language_code
from langmix.errors import DataError, LangmixError

__all__ = ["ParallelDataset", "ParallelItem", "ParallelText", "check_language_code", "split_validation"]


@dataclass(frozen=True)
class ParallelText:
    """One language version of an item."""

    query: str
    positive: str
    negatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParallelItem:
    id: str
    texts: Mapping[str, ParallelText]  # language code -> text

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.texts))


@dataclass
class ParallelDataset:
    """Items of one source, unique ids, at least one language each, no empty text.

    ``complete`` datasets (mMARCO, translate-train) must have every item in every language; partial
    ones (MLQA-R: 2-4 of 7 languages per id) may miss languages. Items with a single language can
    serve monolingual batches only.
    """

    name: str
    items: list[ParallelItem]
    source: str = ""
    complete: bool = False
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.validate()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted({lang for item in self.items for lang in item.texts}))

    @property
    def n_rows(self) -> int:
        """Number of (id, language) versions: the size used to weigh datasets against each other."""
        return sum(len(item.texts) for item in self.items)

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    def validate(self) -> None:
        where = self.source or self.name
        if not self.items:
            raise DataError(where, "no items")
        seen: set[str] = set()
        all_langs = self.languages
        for n, item in enumerate(self.items):
            record = f"item {n} (id={item.id})"
            if not isinstance(item.id, str) or not item.id:
                raise DataError(where, "missing id", f"item {n}")
            if item.id in seen:
                raise DataError(where, f"duplicate id {item.id!r}", record)
            seen.add(item.id)
            if not item.texts:
                raise DataError(where, "item has no language", record)
            for lang, text in item.texts.items():
                _check_text(lang, text, where, record)
            if self.complete and len(item.texts) != len(all_langs):
                missing = sorted(set(all_langs) - set(item.texts))
                raise DataError(where, f"item is missing language(s) {', '.join(missing)}", record)

    def select_languages(self, languages: Sequence[str]) -> ParallelDataset:
        """Keep only ``languages`` (items left with none are dropped); unknown codes are an error."""
        unknown = [lang for lang in languages if lang not in self.languages]
        if unknown:
            raise LangmixError(
                f"{self.name}: no data in language(s) {', '.join(unknown)}; "
                f"it has {', '.join(self.languages)}"
            )
        keep = set(languages)
        items = []
        for item in self.items:
            texts = {lang: t for lang, t in item.texts.items() if lang in keep}
            if texts:
                items.append(ParallelItem(item.id, texts))
        return ParallelDataset(self.name, items, self.source, self.complete, list(self.skipped))

    def subset(self, ids: Iterable[str], name: str | None = None) -> ParallelDataset:
        wanted = set(ids)
        items = [item for item in self.items if item.id in wanted]
        return ParallelDataset(name or self.name, items, self.source, self.complete, [])

    def head(self, n: int) -> ParallelDataset:
        """The first ``n`` items (all of them when there are fewer)."""
        if len(self.items) <= n:
            return self
        return ParallelDataset(self.name, self.items[:n], self.source, self.complete, self.skipped)

    def summary(self) -> dict[str, Any]:
        per_lang: dict[str, int] = {lang: 0 for lang in self.languages}
        by_count: dict[int, int] = {}
        for item in self.items:
            for lang in item.texts:
                per_lang[lang] += 1
            by_count[len(item.texts)] = by_count.get(len(item.texts), 0) + 1
        return {
            "name": self.name,
            "source": self.source,
            "items": len(self.items),
            "rows": self.n_rows,
            "languages": per_lang,
            "items_by_language_count": {str(k): v for k, v in sorted(by_count.items())},
            "cross_lingual_items": sum(v for k, v in by_count.items() if k >= 2),
            "skipped": len(self.skipped),
        }


def _check_text(lang: str, text: ParallelText, where: str, record: str) -> None:
    check_language_code(lang, where, record)
    if not text.query or not text.query.strip():
        raise DataError(where, f"empty query in language {lang!r}", record)
    if not text.positive or not text.positive.strip():
        raise DataError(where, f"empty positive passage in language {lang!r}", record)
    for k, neg in enumerate(text.negatives):
        if not neg or not neg.strip():
            raise DataError(where, f"empty hard negative {k} in language {lang!r}", record)
        if neg == text.positive:
            raise DataError(where, f"hard negative {k} in {lang!r} is the positive passage", record)


def _rank(seed: int, qid: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{qid}".encode()).digest()


def split_validation(
    dataset: ParallelDataset, *, fraction: float = 0.05, n: int | None = None, seed: int = 0
) -> tuple[ParallelDataset, ParallelDataset]:
    """Hold out whole ids: ``n`` (or ``fraction`` of) ids chosen by a seeded hash of the id, so the split
    depends only on (seed, id) — not on file order — and no id is on both sides."""
    total = len(dataset)
    n_val = n if n is not None else max(1, round(total * fraction))
    if not 0 < n_val < total:
        raise LangmixError(
            f"{dataset.name}: cannot hold out {n_val} of {total} ids for validation (need 0 < n < {total})"
        )
    ranked = sorted(dataset.ids, key=lambda qid: _rank(seed, qid))
    val_ids = set(ranked[:n_val])
    train = [item for item in dataset.items if item.id not in val_ids]
    val = [item for item in dataset.items if item.id in val_ids]
    return (
        ParallelDataset(dataset.name, train, dataset.source, dataset.complete, list(dataset.skipped)),
        ParallelDataset(f"{dataset.name}-validation", val, dataset.source, dataset.complete),
    )
