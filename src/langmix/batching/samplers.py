"""The batch plan: which rows form each batch, as a pure function of (seed, epoch).

SPEC §3. A batch is either

* **monolingual** — one language, drawn uniformly among the dataset's languages; every row's query
  and passage are in it;
* **cross-lingual** — every row pairs a query in one language with a passage in a *different*
  language of the same id (drawn per row, uniformly over the id's ordered language pairs);

``strategy="hybrid"`` draws monolingual with probability ``alpha``; ``"mono"`` / ``"cross"`` are
alpha = 1 / 0. With several datasets the dataset of a batch is drawn in proportion to its size
(number of id-language rows). A batch never holds two rows of one id, nor two equal texts.

Distributed training: batches come in *groups* of ``world_size`` consecutive batches that share
dataset, kind and language, and hold distinct ids and texts across the whole group (so negatives
gathered across devices stay valid). Accelerate hands batch ``i`` to rank ``i % world_size``, so
every rank trains on the same kind and language at every step.

Determinism: every random draw comes from ``numpy.random.default_rng([seed, epoch, stream...])``,
so the batches of an epoch depend only on (seed, epoch) — re-running, resuming (the trainer skips
the first k batches of the epoch) or changing the number of data-loader workers gives the same
batches, and a different seed gives a different order within each language.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Sampler

from langmix.batching.composition import CROSS, MONO
from langmix.data.parallel import ParallelDataset
from langmix.errors import LangmixError

HYBRID = "hybrid"
STRATEGIES = (MONO, CROSS, HYBRID)


def effective_alpha(strategy: str, alpha: float) -> float:
    """The probability of a monolingual batch: 1 for ``mono``, 0 for ``cross``, ``alpha`` for ``hybrid``.

    The one strategy -> alpha rule and the one check of both (config, experiments and plans all ask here).
    """
    if strategy not in STRATEGIES:
        raise LangmixError(f"unknown strategy {strategy!r}: strategy must be one of {', '.join(STRATEGIES)}")
    if not 0.0 <= alpha <= 1.0:
        raise LangmixError(f"alpha {alpha} is outside [0, 1]")
    return {MONO: 1.0, CROSS: 0.0}.get(strategy, float(alpha))


@dataclass(frozen=True)
class BatchSpec:
    """One batch, readable: what the collator materialises and what the run logs."""

    index: int  # position of the batch within its epoch
    group: int  # index of its group of world_size batches (one optimizer step under DDP)
    dataset: str
    kind: str  # "mono" | "cross"
    language: str | None  # the language of a monolingual batch
    rows: tuple[tuple[str, str, str], ...]  # (id, query language, passage language)

    @property
    def ids(self) -> list[str]:
        return [r[0] for r in self.rows]


class _Index:
    """Integer view of one dataset: language versions, text ids, pools to draw from."""

    def __init__(self, ds: ParallelDataset, texts: dict[str, int], hard_negatives: int):
        self.name = ds.name
        self.dataset = ds
        self.languages = ds.languages
        n, n_lang = len(ds), len(self.languages)
        lang_pos = {lang: i for i, lang in enumerate(self.languages)}
        self.n_items, self.n_lang = n, n_lang
        self.q_tid = np.full((n, n_lang), -1, dtype=np.int64)
        self.p_tid = np.full((n, n_lang), -1, dtype=np.int64)
        self.n_tid = np.full((n, n_lang, hard_negatives), -1, dtype=np.int64)

        def tid(text: str) -> int:
            return texts.setdefault(text, len(texts))

        for i, item in enumerate(ds.items):
            for lang, t in item.texts.items():
                j = lang_pos[lang]
                self.q_tid[i, j] = tid(t.query)
                self.p_tid[i, j] = tid(t.positive)
                if hard_negatives:
                    if len(t.negatives) < hard_negatives:
                        raise LangmixError(
                            f"{ds.name}: id {item.id!r} ({lang}) has {len(t.negatives)} hard negative(s), "
                            f"but training asks for {hard_negatives}"
                        )
                    for k in range(hard_negatives):
                        self.n_tid[i, j, k] = tid(t.negatives[k])
        has = self.q_tid >= 0
        self.n_langs = has.sum(axis=1)
        # langs_of[i, :n_langs[i]] are the language positions item i has
        self.langs_of = np.argsort(~has, axis=1, kind="stable").astype(np.int64)
        self.mono_pool = [np.flatnonzero(has[:, j]) for j in range(n_lang)]
        self.cross_pool = np.flatnonzero(self.n_langs >= 2)
        self.n_rows = int(has.sum())


class _Stream:
    """Items of one pool in a seeded random order, pass after pass; items rejected for a group
    (their id or a text already in it) are retried first for the next group."""

    def __init__(self, pool: np.ndarray, rng: np.random.Generator):
        self.pool = pool
        self.rng = rng
        self.perm = rng.permutation(pool)
        self.pos = 0
        self.deferred: list[int] = []
        self.deferred_set: set[int] = set()

    def fill(self, n: int, try_add, what: str) -> list[int]:
        out: list[int] = []
        if self.deferred:
            keep = []
            for item in self.deferred:
                if len(out) < n and try_add(item):
                    out.append(item)
                else:
                    keep.append(item)
            self.deferred = keep
            self.deferred_set = set(keep)
        rejected = 0
        limit = 2 * len(self.pool) + n
        perm, pos = self.perm, self.pos
        while len(out) < n:
            if pos >= len(perm):
                perm, pos = self.rng.permutation(self.pool), 0
            item = int(perm[pos])
            pos += 1
            if try_add(item):
                out.append(item)
            else:
                rejected += 1
                if item not in self.deferred_set:
                    self.deferred.append(item)
                    self.deferred_set.add(item)
                if rejected > limit:
                    raise LangmixError(
                        f"cannot fill a batch group of {n} rows with distinct ids and texts from {what} "
                        f"({len(self.pool)} ids); lower the batch size or drop that language"
                    )
        self.perm, self.pos = perm, pos
        return out


@dataclass
class _Group:
    dataset: int
    kind: str
    lang: int  # language position for mono, -1 for cross
    items: np.ndarray
    q: np.ndarray
    p: np.ndarray


class BatchPlan:
    """All batches of every epoch for ``datasets`` under one batching strategy.

    ``batch_size`` is the per-device batch; ``world_size`` batches form a group (one step on all
    devices). ``batches_per_epoch`` defaults to (id-language rows of all datasets) / batch_size,
    rounded down to a multiple of ``world_size``: on average every query of every language once.
    """

    def __init__(
        self,
        datasets: Sequence[ParallelDataset],
        *,
        strategy: str = "hybrid",
        alpha: float = 0.5,
        batch_size: int = 32,
        world_size: int = 1,
        seed: int = 0,
        hard_negatives: int = 0,
        batches_per_epoch: int | None = None,
    ):
        self.alpha = effective_alpha(strategy, alpha)
        if batch_size < 2:
            raise LangmixError(f"batch size must be at least 2 (in-batch negatives), got {batch_size}")
        if world_size < 1:
            raise LangmixError(f"world size must be at least 1, got {world_size}")
        if not datasets:
            raise LangmixError("no training data")
        names = [ds.name for ds in datasets]
        if len(set(names)) != len(names):
            raise LangmixError(f"two training datasets share a name: {names}")
        self.strategy = strategy
        self.batch_size = batch_size
        self.world_size = world_size
        self.seed = int(seed)
        self.hard_negatives = hard_negatives
        texts: dict[str, int] = {}
        self.indexes = [_Index(ds, texts, hard_negatives) for ds in datasets]
        self.languages = tuple(sorted({lang for ix in self.indexes for lang in ix.languages}))
        self.n_texts = len(texts)
        group_rows = batch_size * world_size
        for ix in self.indexes:
            if self.alpha > 0:
                for j, lang in enumerate(ix.languages):
                    if len(ix.mono_pool[j]) < group_rows:
                        raise LangmixError(
                            f"{ix.name}: language {lang} has {len(ix.mono_pool[j])} ids, fewer than the "
                            f"{group_rows} a monolingual batch group needs (batch size {batch_size} x "
                            f"{world_size} devices); lower the batch size or leave {lang} out"
                        )
            if self.alpha < 1 and len(ix.cross_pool) < group_rows:
                raise LangmixError(
                    f"{ix.name}: only {len(ix.cross_pool)} ids exist in two or more languages, fewer than "
                    f"the {group_rows} a cross-lingual batch group needs"
                )
        total_rows = sum(ix.n_rows for ix in self.indexes)
        n_batches = batches_per_epoch if batches_per_epoch is not None else total_rows // batch_size
        self.groups_per_epoch = max(1, n_batches // world_size)
        # Groups per dataset in proportion to its rows (largest remainder), then shuffled per epoch.
        weights = np.array([ix.n_rows for ix in self.indexes], dtype=float)
        share = weights / weights.sum() * self.groups_per_epoch
        counts = np.floor(share).astype(int)
        for k in np.argsort(-(share - counts), kind="stable")[: self.groups_per_epoch - counts.sum()]:
            counts[k] += 1
        self.groups_per_dataset = counts
        self.offsets = np.cumsum([0] + [ix.n_items * ix.n_lang * ix.n_lang for ix in self.indexes])

    # ------------------------------------------------------------------ sizes and row codes
    def __len__(self) -> int:
        """Batches per epoch (a multiple of world_size)."""
        return self.groups_per_epoch * self.world_size

    @property
    def n_codes(self) -> int:
        return int(self.offsets[-1])

    def encode(self, dataset: int, items: np.ndarray, q: np.ndarray, p: np.ndarray) -> list[int]:
        n_lang = self.indexes[dataset].n_lang
        return ((items * n_lang + q) * n_lang + p + self.offsets[dataset]).tolist()

    def decode(self, code: int) -> tuple[int, int, int, int]:
        """Row code -> (dataset, item, query language position, passage language position)."""
        d = int(np.searchsorted(self.offsets, code, side="right") - 1)
        n_lang = self.indexes[d].n_lang
        rest = code - int(self.offsets[d])
        rest, p = divmod(rest, n_lang)
        item, q = divmod(rest, n_lang)
        return d, item, q, p

    # ------------------------------------------------------------------ generation
    def _groups(self, epoch: int) -> Iterator[_Group]:
        seed, n_rows = self.seed, self.batch_size * self.world_size
        main = np.random.default_rng([seed, epoch, 1])
        order = main.permutation(np.repeat(np.arange(len(self.indexes)), self.groups_per_dataset))
        is_mono = main.random(len(order)) < self.alpha
        lang_draw = main.random(len(order))
        row_rng = np.random.default_rng([seed, epoch, 3])
        streams: dict[tuple[int, int], _Stream] = {}

        def stream(d: int, j: int) -> _Stream:
            if (d, j) not in streams:
                ix = self.indexes[d]
                pool = ix.mono_pool[j] if j >= 0 else ix.cross_pool
                streams[d, j] = _Stream(pool, np.random.default_rng([seed, epoch, 2, d, j + 1]))
            return streams[d, j]

        for g, d in enumerate(order):
            d = int(d)
            ix = self.indexes[d]
            if is_mono[g]:
                j = min(int(lang_draw[g] * ix.n_lang), ix.n_lang - 1)
                yield self._mono_group(d, j, stream(d, j), n_rows)
            else:
                yield self._cross_group(d, stream(d, -1), row_rng, n_rows)

    def _row_texts(self, ix: _Index, item: int, q: int, p: int) -> list[int]:
        row = [int(ix.q_tid[item, q]), int(ix.p_tid[item, p])]
        if self.hard_negatives:
            row.extend(int(t) for t in ix.n_tid[item, p])
        return row

    def _mono_group(self, d: int, j: int, stream: _Stream, n_rows: int) -> _Group:
        ix = self.indexes[d]
        used_items: set[int] = set()
        used_texts: set[int] = set()

        def add(item: int) -> bool:
            if item in used_items:
                return False
            row = self._row_texts(ix, item, j, j)
            if any(t in used_texts for t in row):
                return False
            used_items.add(item)
            used_texts.update(row)
            return True

        items = stream.fill(n_rows, add, f"{ix.name} language {ix.languages[j]}")
        lang = np.full(n_rows, j, dtype=np.int64)
        return _Group(d, MONO, j, np.asarray(items, dtype=np.int64), lang, lang)

    def _cross_group(self, d: int, stream: _Stream, row_rng: np.random.Generator, n_rows: int) -> _Group:
        ix = self.indexes[d]
        used_items: set[int] = set()
        used_texts: set[int] = set()
        qs: list[int] = []
        ps: list[int] = []

        def add(item: int) -> bool:
            if item in used_items:
                return False
            # an ordered pair of two different languages of this id, uniformly
            k = int(ix.n_langs[item])
            a = int(row_rng.integers(k))
            b = int(row_rng.integers(k - 1))
            b += b >= a
            lq, lp = int(ix.langs_of[item, a]), int(ix.langs_of[item, b])
            row = self._row_texts(ix, item, lq, lp)
            if any(t in used_texts for t in row):
                return False
            used_items.add(item)
            used_texts.update(row)
            qs.append(lq)
            ps.append(lp)
            return True

        items = stream.fill(n_rows, add, f"{ix.name} cross-lingual ids")
        return _Group(
            d,
            CROSS,
            -1,
            np.asarray(items, dtype=np.int64),
            np.asarray(qs, dtype=np.int64),
            np.asarray(ps, dtype=np.int64),
        )

    def epoch_codes(self, epoch: int) -> Iterator[list[int]]:
        """Row codes of every batch of ``epoch``, in order (what the sampler yields)."""
        bs = self.batch_size
        for group in self._groups(epoch):
            for r in range(self.world_size):
                sl = slice(r * bs, (r + 1) * bs)
                yield self.encode(group.dataset, group.items[sl], group.q[sl], group.p[sl])

    def epoch_specs(self, epoch: int) -> Iterator[BatchSpec]:
        """The same batches as :meth:`epoch_codes`, readable."""
        bs = self.batch_size
        index = 0
        for g, group in enumerate(self._groups(epoch)):
            ix = self.indexes[group.dataset]
            langs, items = ix.languages, ix.dataset.items
            for r in range(self.world_size):
                sl = slice(r * bs, (r + 1) * bs)
                rows = tuple(
                    (items[i].id, langs[q], langs[p])
                    for i, q, p in zip(
                        group.items[sl].tolist(), group.q[sl].tolist(), group.p[sl].tolist(), strict=True
                    )
                )
                language = langs[group.lang] if group.kind == MONO else None
                yield BatchSpec(index, g, ix.name, group.kind, language, rows)
                index += 1

    def spec_of_codes(self, codes: Sequence[int], index: int = -1) -> BatchSpec:
        rows = []
        d = -1
        for code in codes:
            d, item, q, p = self.decode(int(code))
            ix = self.indexes[d]
            rows.append((ix.dataset.items[item].id, ix.languages[q], ix.languages[p]))
        ix = self.indexes[d]
        mono = all(q == p for _, q, p in rows)
        return BatchSpec(
            index,
            index // self.world_size if index >= 0 else -1,
            ix.name,
            MONO if mono else CROSS,
            rows[0][1] if mono else None,
            tuple(rows),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "alpha": self.alpha,
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "seed": self.seed,
            "hard_negatives": self.hard_negatives,
            "batches_per_epoch": len(self),
            "datasets": {
                ix.name: {
                    "items": ix.n_items,
                    "rows": ix.n_rows,
                    "languages": list(ix.languages),
                    "cross_lingual_items": len(ix.cross_pool),
                    "groups_per_epoch": int(n),
                }
                for ix, n in zip(self.indexes, self.groups_per_dataset, strict=True)
            },
        }


class ParallelBatchSampler(Sampler[list[int]]):
    """A batch sampler for ``torch.utils.data.DataLoader(batch_sampler=...)`` over :class:`ParallelRows`.

    Deliberately not a ``torch.utils.data.BatchSampler``: it has no inner ``sampler`` and no
    ``generator`` for accelerate to re-seed; its order comes from (plan seed, epoch) only. The trainer
    calls ``set_epoch`` at every epoch (transformers reaches it through accelerate's shard and skip
    wrappers; where they hide it, accelerate calls the dataset's ``set_epoch``, which
    :class:`ParallelRows` forwards here), so a resumed run replays exactly the batches it skipped.
    """

    def __init__(self, plan: BatchPlan, epoch: int = 0):
        self.plan = plan
        self.batch_size = plan.batch_size
        self.drop_last = True
        self.epoch = epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        return self.plan.epoch_codes(self.epoch)

    def __len__(self) -> int:
        return len(self.plan)


class ParallelRows(Dataset):
    """Map-style dataset over row codes: ``rows[code]`` -> the texts of that (id, query lang, passage
    lang) plus ``_id``/``_qlang``/``_plang`` for the collator (which strips them before tokenising)."""

    def __init__(self, plan: BatchPlan, sampler: ParallelBatchSampler | None = None):
        self.plan = plan
        self.sampler = sampler  # the batch sampler drawing from these rows, if any
        self.column_names = ["anchor", "positive"] + [f"negative_{k + 1}" for k in range(plan.hard_negatives)]

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to the batch sampler: accelerate calls this when its wrappers (a skip of the
        first batches of a resumed epoch around a per-rank shard) hide the sampler itself."""
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.plan) * self.plan.batch_size

    def __getitem__(self, code: int) -> dict[str, str]:
        d, item, q, p = self.plan.decode(int(code))
        ix = self.plan.indexes[d]
        it = ix.dataset.items[item]
        lq, lp = ix.languages[q], ix.languages[p]
        row = {"anchor": it.texts[lq].query, "positive": it.texts[lp].positive}
        for k in range(self.plan.hard_negatives):
            row[f"negative_{k + 1}"] = it.texts[lp].negatives[k]
        row.update({"_dataset": ix.name, "_id": it.id, "_qlang": lq, "_plang": lp})
        return row
