"""The batch plan on real MLQA-R data: batch kinds, languages, no repeated id or text, determinism,
DDP groups."""

from __future__ import annotations

import math
from collections import Counter
from itertools import islice

import numpy as np
import pytest
from scipy import stats
from torch.utils.data import DataLoader

from langmix.batching.composition import composition
from langmix.batching.samplers import BatchPlan, ParallelBatchSampler, ParallelRows
from langmix.data.parallel import ParallelDataset, ParallelItem, ParallelText, load_squad_parallel
from langmix.errors import LangmixError


@pytest.fixture(scope="module")
def mlqa(data_dir) -> ParallelDataset:
    return load_squad_parallel(data_dir / "lareqa" / "mlqa-r")


@pytest.fixture(scope="module")
def xquad(data_dir) -> ParallelDataset:
    return load_squad_parallel(data_dir / "lareqa" / "xquad-r", languages=["en", "de", "el", "ru"])


def _specs(plan: BatchPlan, epochs=range(3)):
    return [spec for epoch in epochs for spec in plan.epoch_specs(epoch)]


def _languages_by_id(ds: ParallelDataset) -> dict[str, set[str]]:
    return {item.id: set(item.texts) for item in ds.items}


@pytest.mark.parametrize("alpha", [0.5, 0.3])
def test_share_of_monolingual_batches_matches_alpha(mlqa, alpha):
    plan = BatchPlan([mlqa], strategy="hybrid", alpha=alpha, batch_size=16, seed=11)
    specs = _specs(plan, range(4))
    n = len(specs)
    k = sum(s.kind == "mono" for s in specs)
    # two-sided binomial test at a fixed seed: the draw is Bernoulli(alpha) per batch
    assert stats.binomtest(k, n, alpha).pvalue > 0.01, (k, n)
    assert abs(k / n - alpha) < 4 * math.sqrt(alpha * (1 - alpha) / n)


def test_rows_respect_the_batch_kind(mlqa):
    langs = _languages_by_id(mlqa)
    plan = BatchPlan([mlqa], strategy="hybrid", alpha=0.5, batch_size=32, seed=5)
    specs = _specs(plan, range(2))
    assert {s.kind for s in specs} == {"mono", "cross"}
    for spec in specs:
        assert len(spec.rows) == 32
        assert len(set(spec.ids)) == 32, "a batch repeats an id"
        for qid, q, p in spec.rows:
            assert q in langs[qid] and p in langs[qid]
            if spec.kind == "mono":
                assert q == p == spec.language
            else:
                assert q != p, "a cross-lingual row has one language"


@pytest.mark.parametrize("strategy", ["mono", "cross"])
def test_pure_strategies(mlqa, strategy):
    plan = BatchPlan([mlqa], strategy=strategy, batch_size=16, seed=1)
    kinds = {s.kind for s in _specs(plan, range(2))}
    assert kinds == {strategy}


def test_no_repeated_text_in_a_batch(mlqa):
    # MLQA-R has many questions whose answer is the same sentence: they must never share a batch
    plan = BatchPlan([mlqa], strategy="hybrid", batch_size=64, seed=2)
    rows = ParallelRows(plan)
    duplicated = Counter(t.positive for item in mlqa.items for t in item.texts.values())
    assert max(duplicated.values()) > 1  # the data does have repeated passages
    for codes in islice(plan.epoch_codes(0), 40):
        texts = [rows[c] for c in codes]
        for column in ("anchor", "positive"):
            values = [t[column] for t in texts]
            assert len(set(values)) == len(values)


def test_monolingual_languages_are_uniform(mlqa):
    plan = BatchPlan([mlqa], strategy="mono", batch_size=16, seed=7)
    counts = Counter(s.language for s in _specs(plan, range(6)))
    assert set(counts) == set(mlqa.languages)
    observed = np.array([counts[lang] for lang in mlqa.languages])
    # uniform over languages, not proportional to their size (en has twice the ids of the others)
    assert stats.chisquare(observed).pvalue > 0.01, counts


def test_cross_rows_cover_language_pairs_in_both_directions(mlqa):
    plan = BatchPlan([mlqa], strategy="cross", batch_size=16, seed=3)
    pairs = composition(_specs(plan, range(2)))["cross_pairs"]
    assert len(pairs) == 42  # 7 x 6 ordered pairs
    assert pairs["en-de"] > 0 and pairs["de-en"] > 0


def test_order_is_a_pure_function_of_seed_and_epoch(mlqa):
    a = BatchPlan([mlqa], strategy="hybrid", batch_size=16, seed=9)
    b = BatchPlan([mlqa], strategy="hybrid", batch_size=16, seed=9)
    assert list(a.epoch_specs(1)) == list(b.epoch_specs(1))
    assert list(a.epoch_codes(0)) == list(a.epoch_codes(0))
    assert list(a.epoch_specs(0)) != list(a.epoch_specs(1))
    # a different seed gives different batches within each language (not just another interleaving)
    c = BatchPlan([mlqa], strategy="mono", batch_size=16, seed=9)
    d = BatchPlan([mlqa], strategy="mono", batch_size=16, seed=10)
    first_c = {s.language: s.ids for s in reversed(list(c.epoch_specs(0)))}
    first_d = {s.language: s.ids for s in reversed(list(d.epoch_specs(0)))}
    for lang in mlqa.languages:
        assert first_c[lang] != first_d[lang]
    # the codes the sampler yields are the specs' rows
    for spec, codes in zip(islice(a.epoch_specs(0), 5), a.epoch_codes(0), strict=False):
        assert a.spec_of_codes(codes).rows == spec.rows


def test_sampler_in_a_dataloader_follows_set_epoch(mlqa):
    plan = BatchPlan([mlqa], batch_size=8, seed=4, batches_per_epoch=6)
    sampler = ParallelBatchSampler(plan)
    loader = DataLoader(ParallelRows(plan), batch_sampler=sampler, collate_fn=list)
    first = [[r["_id"] for r in batch] for batch in loader]
    assert len(first) == len(loader) == 6
    sampler.set_epoch(1)
    second = [[r["_id"] for r in batch] for batch in loader]
    assert second == [s.ids for s in plan.epoch_specs(1)]
    assert first != second


def test_distributed_groups_share_kind_and_language(mlqa):
    plan = BatchPlan([mlqa], strategy="hybrid", batch_size=16, world_size=2, seed=8)
    specs = list(plan.epoch_specs(0))
    assert len(specs) == len(plan) and len(plan) % 2 == 0
    # accelerate gives batch i to rank i % 2: the two batches of one step form a group
    for rank0, rank1 in zip(specs[::2], specs[1::2], strict=True):
        assert rank0.group == rank1.group
        assert (rank0.kind, rank0.language, rank0.dataset) == (rank1.kind, rank1.language, rank1.dataset)
        assert not set(rank0.ids) & set(rank1.ids), "negatives gathered across devices would repeat an id"


def test_datasets_drawn_in_proportion_to_size(mlqa, xquad):
    plan = BatchPlan([mlqa, xquad], strategy="hybrid", batch_size=16, seed=6)
    by_dataset = composition(plan.epoch_specs(0))["by_dataset"]
    total = sum(by_dataset.values())
    expected = mlqa.n_rows / (mlqa.n_rows + xquad.n_rows)
    assert abs(by_dataset["mlqa-r"] / total - expected) < 1.5 / total
    # ... and interleaved, not one after the other
    order = [s.dataset for s in islice(plan.epoch_specs(0), 40)]
    assert len(set(order)) == 2
    for spec in plan.epoch_specs(0):
        if spec.kind == "mono":
            assert spec.language in (mlqa.languages if spec.dataset == "mlqa-r" else xquad.languages)


def test_hard_negatives_follow_the_passage_language():
    def text(lang, i):
        return ParallelText(f"q{i}{lang}", f"p{i}{lang}", (f"n{i}{lang}",))

    items = [ParallelItem(str(i), {lang: text(lang, i) for lang in ("en", "de", "fr")}) for i in range(40)]
    plan = BatchPlan([ParallelDataset("toy", items)], batch_size=8, seed=0, hard_negatives=1)
    rows = ParallelRows(plan)
    assert rows.column_names == ["anchor", "positive", "negative_1"]
    seen = set()
    for codes in islice(plan.epoch_codes(0), 10):
        for row in (rows[c] for c in codes):
            assert row["anchor"].endswith(row["_qlang"])
            assert row["positive"].endswith(row["_plang"]) and row["negative_1"].endswith(row["_plang"])
            seen.add(row["_qlang"] == row["_plang"])
    assert seen == {True, False}
    with pytest.raises(LangmixError, match="hard negative"):
        BatchPlan([ParallelDataset("toy", items)], batch_size=8, hard_negatives=2)


def test_too_little_data_is_a_clear_error():
    items = [ParallelItem(str(i), {"en": ParallelText(f"q{i}", f"p{i}")}) for i in range(10)]
    items += [
        ParallelItem(f"x{i}", {"en": ParallelText(f"xq{i}", f"xp{i}"), "de": ParallelText(f"d{i}", f"e{i}")})
        for i in range(3)
    ]
    ds = ParallelDataset("small", items)
    with pytest.raises(LangmixError, match="language de has 3 ids"):
        BatchPlan([ds], strategy="mono", batch_size=4)
    with pytest.raises(LangmixError, match="only 3 ids exist in two or more languages"):
        BatchPlan([ds], strategy="cross", batch_size=4)
    with pytest.raises(LangmixError, match="unknown strategy"):
        BatchPlan([ds], strategy="mixed")
    with pytest.raises(LangmixError, match="alpha"):
        BatchPlan([ds], alpha=1.5)
    # every text equal: no second row can ever join the batch
    same = [ParallelItem(str(i), {"en": ParallelText("same q", f"p{i}")}) for i in range(10)]
    plan = BatchPlan([ParallelDataset("dup", same)], strategy="mono", batch_size=2)
    with pytest.raises(LangmixError, match="distinct ids and texts"):
        next(plan.epoch_codes(0))


@pytest.mark.parametrize("wrapping", ["plain", "shard", "skip", "skip+shard"])
def test_set_epoch_reaches_the_sampler_through_accelerate_wrappers(mlqa, wrapping):
    """The trainer sets the epoch on accelerate's loader. A resumed epoch under DDP wraps the sampler in a
    per-rank shard and a skip of the trained batches, which hide it: the dataset forwards the epoch then."""
    from accelerate.data_loader import BatchSamplerShard, DataLoaderShard, SkipBatchSampler

    plan = BatchPlan([mlqa], batch_size=8, seed=4, batches_per_epoch=6, world_size=2)
    sampler = ParallelBatchSampler(plan)
    batch_sampler, expected = sampler, list(plan.epoch_specs(1))
    if "shard" in wrapping:
        batch_sampler, expected = (
            BatchSamplerShard(batch_sampler, num_processes=2, process_index=0),
            expected[::2],
        )
    if "skip" in wrapping:
        batch_sampler, expected = SkipBatchSampler(batch_sampler, skip_batches=1), expected[1:]
    loader = DataLoaderShard(
        ParallelRows(plan, sampler=sampler), batch_sampler=batch_sampler, collate_fn=list
    )
    loader.set_epoch(1)
    assert sampler.epoch == 1
    assert [[r["_id"] for r in batch] for batch in loader] == [s.ids for s in expected]
