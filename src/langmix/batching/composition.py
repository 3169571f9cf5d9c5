"""What a run trained on: batches per kind, language and dataset; language pairs of cross-lingual rows.

The trainer counts each batch as it consumes it (:meth:`BatchCounts.add`); a planned epoch is counted the
same way (:func:`composition` over :class:`~langmix.batching.samplers.BatchSpec` s), so the two agree by
construction. Counts are plain JSON (:meth:`BatchCounts.summary` / :meth:`BatchCounts.from_summary`), which
is how a checkpoint keeps them across a resume, and they add up across ranks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

MONO, CROSS = "mono", "cross"


class _Batch(Protocol):
    kind: str
    language: str | None
    dataset: str
    rows: Sequence[tuple[str, str, str]]


@dataclass
class BatchCounts:
    """Running counts of batches; ``summary()`` is the ``trained`` part of ``batch_composition.json``."""

    kinds: Counter[str] = field(default_factory=Counter)
    mono_by_language: Counter[str] = field(default_factory=Counter)
    by_dataset: Counter[str] = field(default_factory=Counter)
    cross_pairs: Counter[str] = field(default_factory=Counter)
    rows: int = 0

    def add(
        self, kind: str, language: str | None, dataset: str, qlang: Sequence[str], plang: Sequence[str]
    ) -> None:
        """Count one batch: its kind, its language (monolingual) or its rows' language pairs (cross)."""
        self.kinds[kind] += 1
        self.by_dataset[dataset] += 1
        self.rows += len(qlang)
        if kind == MONO:
            self.mono_by_language[language] += 1
        else:
            self.cross_pairs.update(f"{q}-{p}" for q, p in zip(qlang, plang, strict=True))

    def add_spec(self, spec: _Batch) -> None:
        self.add(spec.kind, spec.language, spec.dataset, [r[1] for r in spec.rows], [r[2] for r in spec.rows])

    def merge(self, other: BatchCounts) -> BatchCounts:
        """The sum of two counts (e.g. of two ranks)."""
        return BatchCounts(
            self.kinds + other.kinds,
            self.mono_by_language + other.mono_by_language,
            self.by_dataset + other.by_dataset,
            self.cross_pairs + other.cross_pairs,
            self.rows + other.rows,
        )

    def summary(self) -> dict[str, Any]:
        total = sum(self.kinds.values())
        return {
            "batches": total,
            "rows": self.rows,
            "by_kind": {MONO: self.kinds[MONO], CROSS: self.kinds[CROSS]},
            "mono_share": self.kinds[MONO] / total if total else 0.0,
            "mono_by_language": dict(sorted(self.mono_by_language.items())),
            "by_dataset": dict(sorted(self.by_dataset.items())),
            "cross_pairs": dict(sorted(self.cross_pairs.items())),
        }

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> BatchCounts:
        """The counts back from :meth:`summary` (what a checkpoint stores)."""
        return cls(
            Counter({k: v for k, v in summary["by_kind"].items() if v}),
            Counter(summary["mono_by_language"]),
            Counter(summary["by_dataset"]),
            Counter(summary["cross_pairs"]),
            int(summary["rows"]),
        )


def composition(specs: Iterable[_Batch]) -> dict[str, Any]:
    """How many batches of each kind, language and dataset; language pairs of cross-lingual rows."""
    counts = BatchCounts()
    for spec in specs:
        counts.add_spec(spec)
    return counts.summary()
