"""Training through sentence-transformers' trainer on a tiny model: every strategy learns, the run folder is
complete, the best checkpoint is kept, a resumed run equals an uninterrupted one, and the CLI works."""

from __future__ import annotations

import json
import sys
from itertools import islice
from pathlib import Path

import pytest
import torch
import yaml
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from transformers import TrainerCallback

from langmix.batching.composition import composition
from langmix.batching.samplers import ParallelRows
from langmix.training import TrainConfig, load_config, train
from langmix.training.api import build_plans, load_training_data


def _config(tmp_path: Path, model: Path, data_dir: Path, **overrides) -> TrainConfig:
    base = dict(
        data=["mlqa-r"],
        data_root=str(data_dir),
        model=str(model),
        max_items=300,
        max_seq_length=32,
        batch_size=8,
        max_steps=6,
        learning_rate=1e-3,
        warmup=0,
        val_fraction=0.0,
        eval_steps=100,
        logging_steps=1,
        output_dir=str(tmp_path / "run"),
        seed=13,
    )
    base.update(overrides)
    return TrainConfig(**base)


def _fixed_batch_loss(model: SentenceTransformer, rows: list[dict]) -> float:
    loss = MultipleNegativesRankingLoss(model, scale=20.0)
    features = [
        model.preprocess([r["anchor"] for r in rows], prompt=model.prompts.get("query")),
        model.preprocess([r["positive"] for r in rows], prompt=model.prompts.get("passage")),
    ]
    model.eval()
    with torch.no_grad():
        return float(loss(features, None))


@pytest.mark.parametrize(("strategy", "loss"), [("mono", "mnrl"), ("cross", "cached"), ("hybrid", "mnrl")])
def test_each_strategy_lowers_the_loss_on_a_fixed_batch(tmp_path, tiny_model_dir, data_dir, strategy, loss):
    config = _config(
        tmp_path, tiny_model_dir, data_dir, strategy=strategy, loss=loss, mini_batch_size=3, max_steps=10
    )
    train_sets, val_sets = load_training_data(config)
    plan, _ = build_plans(config, train_sets, val_sets, world_size=1)
    rows = ParallelRows(plan)
    fixed = [rows[c] for codes in list(plan.epoch_codes(0))[:2] for c in codes]  # 16 rows it trains on
    before = _fixed_batch_loss(SentenceTransformer(str(tiny_model_dir), device="cpu"), fixed)
    result = train(config)
    after = _fixed_batch_loss(SentenceTransformer(str(result.model_dir), device="cpu"), fixed)
    assert after < before - 0.05, (before, after)
    kinds = result.composition["trained"]["by_kind"]
    assert sum(kinds.values()) == 10
    if strategy != "hybrid":
        assert kinds[strategy] == 10
    logged = [k for entry in result.log_history for k in entry if k.startswith("loss_")]
    assert set(logged) == ({"loss_mono", "loss_cross"} if strategy == "hybrid" else {f"loss_{strategy}"})


def test_run_folder_validation_and_best_checkpoint(tmp_path, tiny_model_dir, data_dir):
    config = _config(
        tmp_path,
        tiny_model_dir,
        data_dir,
        max_steps=6,
        eval_steps=3,
        val_fraction=0.2,
        freeze_embeddings=True,
        save_total_limit=1,
        val_batches=6,
        lareqa_eval="xquad-r",
        lareqa_languages=["en", "de"],
        lareqa_max_questions=20,
    )
    result = train(config)
    run = result.run_dir
    for name in (
        "config.yaml",
        "run.json",
        "log_history.json",
        "batch_composition.json",
        "model/modules.json",
    ):
        assert (run / name).is_file(), name
    # the saved config reproduces the run's config
    assert load_config(run / "config.yaml") == config
    history = json.loads((run / "log_history.json").read_text())
    evals = [e for e in history if "eval_loss" in e]
    assert [e["step"] for e in evals] == [3, 6]
    assert {"eval_loss_mono", "eval_loss_cross"} <= set(evals[0])
    # periodic LAReQA evaluation rides along with every validation
    assert {"eval_xquad_r_mo_map", "eval_xquad_r_cr_map", "eval_xquad_r_mul_map"} <= set(evals[0])
    assert 0 < evals[0]["eval_xquad_r_mo_map"] <= 1
    best = min(evals, key=lambda e: e["eval_loss"])
    assert result.best_checkpoint.endswith(f"checkpoint-{best['step']}")
    assert result.best_metric == pytest.approx(best["eval_loss"])
    comp = json.loads((run / "batch_composition.json").read_text())
    assert comp["trained"]["batches"] == 6 and comp["plan"]["strategy"] == "hybrid"
    info = json.loads((run / "run.json").read_text())
    assert info["frozen_parameters"] > 0 and info["result"]["global_step"] == 6
    assert info["data"]["validation"][0]["items"] == 60
    # the final model is the best checkpoint; plain SentenceTransformer loads it
    model = SentenceTransformer(str(result.model_dir), device="cpu")
    assert model.encode(["a question"]).shape == (1, 32)
    # trained with 32 tokens, saved with the model's own maximum length
    assert info["max_seq_length"] == {"train": 32, "saved_model": 64} and model.max_seq_length == 64
    ckpt = SentenceTransformer(result.best_checkpoint, device="cpu")
    for (name, a), (_, b) in zip(model.state_dict().items(), ckpt.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    # frozen word embeddings did not move
    start = SentenceTransformer(str(tiny_model_dir), device="cpu")
    emb = "0.model.embeddings.word_embeddings.weight"
    assert torch.equal(model.state_dict()[emb], start.state_dict()[emb])
    assert not torch.equal(
        model.state_dict()["0.model.encoder.layer.0.attention.self.query.weight"],
        start.state_dict()["0.model.encoder.layer.0.attention.self.query.weight"],
    )


class _Crash(TrainerCallback):
    """Simulate a killed job right after the checkpoint of step ``at`` is written."""

    def __init__(self, at: int):
        self.at = at

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            raise KeyboardInterrupt("killed")


def _batches(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "batches.rank0.jsonl").read_text().splitlines()]


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path, tiny_model_dir, data_dir):
    common = dict(
        max_steps=6, eval_steps=5, batch_log=True, gradient_accumulation_steps=2, batches_per_epoch=8
    )
    straight = train(_config(tmp_path / "a", tiny_model_dir, data_dir, **common))

    config = _config(tmp_path / "b", tiny_model_dir, data_dir, **common)
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[_Crash(at=5)])
    # killed in the second epoch (8 batches per epoch = 4 steps of 2 accumulated batches)
    assert len(_batches(config_dir := Path(config.output_dir))) == 10
    resumed = train(TrainConfig(**{**config.to_dict(), "resume": "auto"}))
    assert resumed.global_step == straight.global_step == 6

    # same batches, in the same order
    a, b = _batches(straight.run_dir), _batches(config_dir)
    assert [x["epoch"] for x in a] == [0] * 8 + [1] * 4
    assert a == b
    # same weights
    wa = SentenceTransformer(str(straight.model_dir), device="cpu").state_dict()
    wb = SentenceTransformer(str(resumed.model_dir), device="cpu").state_dict()
    for name in wa:
        assert torch.allclose(wa[name], wb[name], atol=1e-6, rtol=0), name
    losses = [e["loss"] for e in straight.log_history if "loss" in e]
    resumed_losses = [e["loss"] for e in resumed.log_history if "loss" in e]
    assert losses[5:] == pytest.approx(resumed_losses[-1:], abs=1e-5)


def test_cli_train_and_errors(tmp_path, tiny_model_dir, data_dir, monkeypatch, capsys):
    from langmix.cli import main

    cfg = tmp_path / "train.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "data": "mlqa-r",
                "max_items": 200,
                "batch_size": 4,
                "max_seq_length": 24,
                "val_fraction": 0.0,
                "strategy": "mono",
            }
        )
    )
    out = tmp_path / "cli-run"
    argv = [
        "langmix",
        "train",
        "--config",
        str(cfg),
        "--model",
        str(tiny_model_dir),
        "--max-steps",
        "2",
        "--strategy",
        "hybrid",
        "--alpha",
        "0.25",
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
        "--set",
        "logging_steps=1",
        "--set",
        "languages=en,de,ar",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert (saved["strategy"], saved["alpha"], saved["batch_size"]) == ("hybrid", 0.25, 4)
    assert saved["languages"] == ["en", "de", "ar"]
    assert (out / "model" / "modules.json").is_file()

    for bad, message in (
        (["--strategy", "mixed"], "strategy must be one of"),
        (["--set", "colour=blue"], "unknown training option 'colour'"),
        (["--data", str(tmp_path / "nope")], "not found"),
    ):
        monkeypatch.setattr(
            sys,
            "argv",
            ["langmix", "train", "--model", str(tiny_model_dir), "--out", str(tmp_path / "x"), *bad],
        )
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_hard_negatives_from_jsonl(tmp_path, tiny_model_dir, data_dir):
    from langmix.data.parallel import (
        ParallelDataset,
        ParallelItem,
        ParallelText,
        load_squad_parallel,
        write_parallel_jsonl,
    )

    mlqa = load_squad_parallel(data_dir / "lareqa" / "mlqa-r", languages=["en", "de"])
    items = mlqa.items[:120]
    with_negatives = []
    for n, item in enumerate(items):
        texts = {}
        for lang, t in item.texts.items():
            # the next item's passage in the same language that is not this item's own passage
            others = (items[(n + k) % len(items)].texts.get(lang) for k in range(1, len(items)))
            negative = next(o.positive for o in others if o is not None and o.positive != t.positive)
            texts[lang] = ParallelText(t.query, t.positive, (negative,))
        with_negatives.append(ParallelItem(item.id, texts))
    path = write_parallel_jsonl(tmp_path / "train.jsonl", ParallelDataset("neg", with_negatives))
    config = _config(tmp_path, tiny_model_dir, data_dir, data=[str(path)], hard_negatives=1, max_steps=2)
    config.max_items = None
    result = train(config)
    assert result.global_step == 2 and (result.model_dir / "modules.json").is_file()
    info = json.loads((result.run_dir / "run.json").read_text())
    assert set(info["prompts"]) == {"anchor", "positive", "negative_1"}


def test_composition_is_counted_as_trained_and_survives_a_resume(tmp_path, tiny_model_dir, data_dir):
    """The trainer counts the batches it consumes; a resumed run adds to the checkpoint's counts, so it
    reports what an uninterrupted run reports — the batches of the plan it went through."""
    common = dict(max_steps=5, eval_steps=3, batches_per_epoch=4)
    straight = train(_config(tmp_path / "a", tiny_model_dir, data_dir, **common))
    config = _config(tmp_path / "b", tiny_model_dir, data_dir, **common)
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[_Crash(at=3)])
    assert (Path(config.output_dir) / "checkpoints/checkpoint-3/batch_counts.rank0.json").is_file()
    resumed = train(TrainConfig(**{**config.to_dict(), "resume": "auto"}))

    train_sets, val_sets = load_training_data(config)
    plan, _ = build_plans(config, train_sets, val_sets, world_size=1)
    planned = composition([*plan.epoch_specs(0), *islice(plan.epoch_specs(1), 1)])  # 5 steps: 4 + 1
    assert straight.composition == resumed.composition == {"trained": planned, "plan": plan.describe()}
    assert json.loads((resumed.run_dir / "batch_composition.json").read_text())["trained"] == planned


def test_bf16_training_on_cpu_runs_and_saves_a_float32_model(tmp_path, tiny_model_dir, data_dir, monkeypatch):
    """``--precision bf16`` on a CPU trains through the trainer's own autocast (it used to stop with "Your
    setup doesn't support bf16/gpu"); the weights, and so the saved model, stay float32."""
    from langmix.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "bf16-run"
    argv = ["langmix", "train", "--model", str(tiny_model_dir), "--data-dir", str(data_dir), "--out"]
    argv += [str(out), "--max-items", "200", "--batch-size", "4", "--max-seq-length", "24"]
    argv += ["--max-steps", "2", "--val-fraction", "0", "--precision", "bf16", "--set", "logging_steps=1"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    info = json.loads((out / "run.json").read_text())
    assert info["precision"] == "bf16" and info["device"] == "cpu" and info["result"]["global_step"] == 2
    assert {"device", "cpu", "bf16_native"} <= set(info["hardware"])
    losses = [e["loss"] for e in json.loads((out / "log_history.json").read_text()) if "loss" in e]
    assert len(losses) == 2 and all(0 < loss < 100 for loss in losses)
    model = SentenceTransformer(str(out / "model"), device="cpu")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    start = SentenceTransformer(str(tiny_model_dir), device="cpu").state_dict()
    moved = [name for name, value in model.state_dict().items() if not torch.equal(value, start[name])]
    assert moved  # it trained
