"""The recipe levers of ``langmix train`` do what they say, end to end on a tiny model: paragraph hard
negatives reach the loss, ``temperature: auto`` resolves to the start model's own temperature and is recorded,
``merge_start`` saves the interpolated model next to the unmerged one, and ``epochs`` counts whole plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from langmix.data.parallel import load_parallel
from langmix.errors import LangmixError
from langmix.training import TrainConfig, load_config, train
from langmix.training import api as training_api
from langmix.training.collator import ParallelCollator
from langmix.training.config import identity_options
from langmix.training.identity import clear_run, holds_run
from langmix.training.temperature import DEFAULT_TEMPERATURE, KNOWN_TEMPERATURES, resolve_temperature

LANGS = ["en", "de", "es"]


def _config(tmp_path: Path, model: Path, data_dir: Path, **overrides) -> TrainConfig:
    base = dict(
        data=["mlqa-r"],
        data_root=str(data_dir),
        languages=LANGS,
        model=str(model),
        max_items=200,
        max_seq_length=32,
        batch_size=8,
        max_steps=2,
        learning_rate=1e-3,
        warmup=0,
        val_fraction=0.0,
        eval_steps=100,
        logging_steps=1,
        output_dir=str(tmp_path / "run"),
        seed=11,
    )
    base.update(overrides)
    return TrainConfig(**base).validate()


def test_paragraph_negatives_reach_the_loss(tmp_path, tiny_model_dir, data_dir, monkeypatch):
    """Every trained batch carries N negative columns with the passage language's paragraph negatives,
    tokenised with the passage prompt, and the loss is computed over 2 + N columns (which changes it)."""
    collated, losses = [], []
    collate, loss_of = ParallelCollator.__call__, MultipleNegativesRankingLoss.compute_loss_from_embeddings

    def spy_collate(self, features):
        batch = collate(self, features)
        collated.append(([dict(f) for f in features], batch))
        return batch

    def spy_loss(self, embeddings, labels):
        loss = loss_of(self, embeddings, labels)
        with torch.no_grad():
            without = loss_of(self, embeddings[:2], labels)
        losses.append(([tuple(e.shape) for e in embeddings], float(loss.detach()), float(without)))
        return loss

    monkeypatch.setattr(ParallelCollator, "__call__", spy_collate)
    monkeypatch.setattr(MultipleNegativesRankingLoss, "compute_loss_from_embeddings", spy_loss)
    config = _config(tmp_path, tiny_model_dir, data_dir, hard_negatives=2, strategy="hybrid", max_steps=4)
    result = train(config)
    assert result.global_step == 4 and len(losses) == 4
    for shapes, loss, without in losses:
        assert len(shapes) == 4 and {s[0] for s in shapes} == {8}  # anchor, positive, 2 negatives
        assert loss != pytest.approx(without, abs=1e-6)
    data = load_parallel(
        "mlqa-r", languages=LANGS, data_root=data_dir, max_items=200, hard_negatives=2, seed=11
    )
    by_id = {item.id: item for item in data.items}
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    model.max_seq_length = 32
    kinds = set()
    for features, batch in collated:
        kinds.add(all(f["_qlang"] == f["_plang"] for f in features))
        for k in (1, 2):
            texts = [f[f"negative_{k}"] for f in features]
            assert texts == [by_id[f["_id"]].texts[f["_plang"]].negatives[k - 1] for f in features]
            expected = model.preprocess(texts, prompt="passage: ")["input_ids"]
            assert torch.equal(batch[f"negative_{k}_input_ids"], expected)
    assert kinds == {True, False}  # monolingual and cross-lingual batches both had them
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["plan"]["hard_negatives"] == 2
    assert set(info["prompts"]) == {"anchor", "positive", "negative_1", "negative_2"}


def test_temperature_auto_table_and_fallback():
    assert resolve_temperature("auto", "embedded").value == 0.01
    assert resolve_temperature("auto", "intfloat/multilingual-e5-base").value == 0.01
    cached = "/cache/hub/models--intfloat--multilingual-e5-large/snapshots/abc"
    assert resolve_temperature("auto", cached).value == 0.01
    unknown = resolve_temperature("auto", "sentence-transformers/LaBSE")
    assert unknown.value == DEFAULT_TEMPERATURE and "no known training temperature" in unknown.reason
    assert resolve_temperature(0.02, "embedded").value == 0.02  # a number is kept, whatever the model
    assert all(k.source.startswith("model card") and "https://" in k.source for k in KNOWN_TEMPERATURES)
    for bad in ("0", "hot", "-1"):
        with pytest.raises(LangmixError, match=r"finite number > 0, got .* \(or 'auto'"):
            load_config(None, {"temperature": bad})


def test_temperature_auto_is_the_start_models_own_and_recorded(
    tmp_path, tiny_model_dir, data_dir, monkeypatch
):
    """A model from a langmix run was trained at its run's temperature: auto trains at that, with the loss
    scale, config.yaml, run.json and the run's identity all holding the number."""
    start_run = tmp_path / "start"
    (start_run / "model").parent.mkdir()
    (start_run / "model").symlink_to(tiny_model_dir, target_is_directory=True)
    (start_run / "config.yaml").write_text(yaml.safe_dump({"temperature": 0.02}))
    (start_run / "run.json").write_text("{}")
    scales = []
    build = training_api.build_loss

    def spy_build(config, model):
        loss = build(config, model)
        scales.append(loss.scale)
        return loss

    monkeypatch.setattr(training_api, "build_loss", spy_build)
    config = _config(tmp_path, start_run / "model", data_dir, temperature="auto")
    result = train(config)
    assert scales == [pytest.approx(50.0)] and result.temperature == 0.02
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["temperature"]["value"] == 0.02 and info["temperature"]["requested"] == "auto"
    assert "trained by langmix at 0.02" in info["temperature"]["reason"]
    assert info["identity"]["options"]["temperature"] == 0.02
    assert load_config(result.run_dir / "config.yaml").temperature == 0.02


def test_merge_start_saves_the_interpolated_model_and_keeps_the_unmerged(tmp_path, tiny_model_dir, data_dir):
    config = _config(tmp_path, tiny_model_dir, data_dir, merge_start=0.25, max_steps=3)
    result = train(config)
    run = result.run_dir
    assert result.unmerged_model_dir == run / "model-unmerged"
    start = SentenceTransformer(str(tiny_model_dir), device="cpu").state_dict()
    tuned = SentenceTransformer(str(run / "model-unmerged"), device="cpu").state_dict()
    merged = SentenceTransformer(str(run / "model"), device="cpu").state_dict()
    moved = 0
    for key, value in merged.items():
        if value.is_floating_point():
            assert torch.allclose(value, 0.75 * tuned[key] + 0.25 * start[key], atol=1e-6), key
            moved += not torch.equal(tuned[key], start[key])
    assert moved > 10  # training changed the weights, so the merge is not trivially the start model
    info = json.loads((run / "run.json").read_text())
    assert info["merge"]["start_weight"] == 0.25 and info["result"]["unmerged_model"].endswith(
        "model-unmerged"
    )
    assert info["identity"]["options"]["merge_start"] == 0.25
    assert holds_run(run)
    clear_run(run)  # --overwrite removes the unmerged model with the rest of the run
    assert not (run / "model-unmerged").exists()


def test_merge_start_at_its_default_leaves_older_identities_unchanged():
    """A run recorded before merge_start existed is the same run as one with merge_start 0."""
    assert "merge_start" not in identity_options(TrainConfig())
    assert identity_options(TrainConfig(merge_start=0.5))["merge_start"] == 0.5
    assert "hard_negatives" in identity_options(TrainConfig())  # older options keep their place


def test_epochs_are_whole_passes_over_the_plan(tmp_path, tiny_model_dir, data_dir):
    """Training by epochs (no max_steps) trains exactly epochs x (id-language rows // batch size) batches,
    each epoch its own seeded plan."""
    config = _config(
        tmp_path, tiny_model_dir, data_dir, max_steps=-1, epochs=2, batch_log=True, batch_size=32
    )
    data = load_parallel("mlqa-r", languages=LANGS, data_root=data_dir, max_items=200)
    per_epoch = data.n_rows // 32
    result = train(config)
    assert result.global_step == 2 * per_epoch
    assert result.composition["trained"]["batches"] == 2 * per_epoch
    log = [json.loads(line) for line in (result.run_dir / "batches.rank0.jsonl").read_text().splitlines()]
    assert [sum(r["epoch"] == e for r in log) for e in (0, 1)] == [per_epoch, per_epoch]
    first, second = ([r["ids"] for r in log if r["epoch"] == e] for e in (0, 1))
    assert first != second
