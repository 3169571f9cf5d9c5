"""A tiny experiment grid end to end: train (as subprocesses), evaluate, summarise, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from langmix.errors import LangmixError
from langmix.evaluation.run_folder import headline
from langmix.experiments.grid import ExperimentRunner, grid, load_experiment
from langmix.reports.experiment import write_summary
from langmix.training.config import parse_set


def test_grid_layout(tiny_experiment):
    names = [spec.name for spec in grid(tiny_experiment)]
    assert names == ["base", "mono-t0.05-s1", "hybrid-a0.5-t0.05-s1", "mono-t0.05-s2", "hybrid-a0.5-t0.05-s2"]


@pytest.mark.slow
def test_tiny_grid_end_to_end_and_resume(tiny_experiment, data_dir):
    logs: list[str] = []
    runner = ExperimentRunner(tiny_experiment, data_root=data_dir, log=logs.append)
    status = runner.run()
    assert set(status.values()) == {"done"} and len(status) == 5
    summary = write_summary(runner)
    systems = summary["datasets"]["xquad-r"]["systems"]
    assert set(systems) == {"base", "mono-t0.05", "hybrid-a0.5-t0.05"}
    for spec in grid(tiny_experiment):
        doc = json.loads((runner.eval_dir(spec, "xquad-r") / "metrics.json").read_text())
        assert doc["data"]["n_questions"] == 36
        values = headline(doc)
        row = systems[spec.system]
        seed_index = 0 if spec.seed in (None, 1) else 1
        for key, cell in row.items():
            assert cell["values"][seed_index] == pytest.approx(values[key])
        assert row["mo_map"]["mean"] == pytest.approx(np.mean(row["mo_map"]["values"]))
    tests = summary["datasets"]["xquad-r"]["significance"]["hybrid-a0.5-t0.05"]
    assert set(tests) == {"base", "mono-t0.05"} and 0 <= tests["mono-t0.05"]["mul"]["p_value"] <= 1
    # seed-level comparison: two seeds against two seeds; the untrained model has one, so no seed test
    mul = tests["mono-t0.05"]["mul"]
    per_seed = systems["hybrid-a0.5-t0.05"]["mul_map"]["values"], systems["mono-t0.05"]["mul_map"]["values"]
    assert mul["seed_sd"] == pytest.approx(
        np.sqrt((np.var(per_seed[0], ddof=1) + np.var(per_seed[1], ddof=1)) / 2)
    )
    assert np.isnan(tests["base"]["mul"]["seed_p_value"])
    # trained on en, de, es and evaluated on them: every query language is seen, so the seen means are the
    # headline ones, there is no unseen group, and the untrained model has no groups at all
    groups = summary["datasets"]["xquad-r"]["groups"]
    assert set(groups) == {"mono-t0.05", "hybrid-a0.5-t0.05"}
    for name, table in groups.items():
        assert not any(key.startswith("unseen") for key in table)
        # per-language values are stored to 6 decimals, so their mean may differ in the 7th
        assert table["seen_mul_map"]["values"] == pytest.approx(systems[name]["mul_map"]["values"], abs=1e-6)
    # main table + seen/unseen table + test row
    assert (runner.root / "summary.md").read_text().count("| mono-t0.05 |") == 3
    assert (runner.root / "heatmaps_xquad-r.png").read_bytes()[:4] == b"\x89PNG"
    # trained models load with plain sentence-transformers
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(runner.model_name(grid(tiny_experiment)[1]))
    # a second run skips everything
    logs.clear()
    again = ExperimentRunner(tiny_experiment, data_root=data_dir, log=logs.append).run()
    assert set(again.values()) == {"skipped"}
    assert not any("training" in line for line in logs)


def test_overrides_reach_grid_axes_and_the_train_block(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "train": {"max_steps": 60, "batch_size": 16}, "seeds": [1]}))
    config = load_experiment(path, parse_set(["alpha_sweep=[0.25,0.75]", "train.max_steps=100"]))
    assert config.alpha_sweep == [0.25, 0.75]
    assert config.train == {"max_steps": 100, "batch_size": 16}
    swept = sorted(spec.alpha for spec in grid(config) if spec.strategy == "hybrid")
    assert swept == [0.25, 0.5, 0.75]
    with pytest.raises(LangmixError, match="unknown train field"):
        load_experiment(path, parse_set(["train.max_stepz=1"]))
    with pytest.raises(LangmixError, match="outside"):
        load_experiment(path, parse_set(["alpha_sweep=[1.5]"]))


def test_debiased_twins_share_training_and_score_projected_vectors(tiny_experiment, data_dir):
    """``debias:`` adds each system again with its language subspace projected out: the twin shares the
    run folder (no second training), has its own evaluation and identity key, and its numbers are the
    LAReQA scores of the projected vectors."""
    from dataclasses import replace

    from langmix.data.lareqa import load_lareqa
    from langmix.evaluation.api import encode_lareqa
    from langmix.evaluation.lareqa import evaluate_embeddings
    from langmix.experiments.collect import collect
    from langmix.experiments.grid import BASE_SPEC
    from langmix.models.encoder import Encoder
    from langmix.models.loading import load_model

    config = replace(tiny_experiment, debias={"source": "tatoeba", "per_language": 6, "k": 2})
    config.validate()
    names = [spec.name for spec in grid(config)]
    assert names[:4] == ["base", "base+debias", "mono-t0.05-s1", "mono-t0.05+debias-s1"]
    runner = ExperimentRunner(config, data_root=data_dir, log=lambda line: None)
    twin = replace(BASE_SPEC, debiased=True)
    assert runner.run_dir(twin) == runner.run_dir(BASE_SPEC)
    for spec in (BASE_SPEC, twin):
        runner.reconcile(spec)
        runner.evaluate(spec)
    assert runner.current(BASE_SPEC, "xquad-r") and runner.current(twin, "xquad-r")
    plain = json.loads((runner.eval_dir(BASE_SPEC, "xquad-r") / "metrics.json").read_text())
    debiased = json.loads((runner.eval_dir(twin, "xquad-r") / "metrics.json").read_text())
    assert debiased["model"]["debias"]["k"] == 2 and "debias" not in plain["model"]

    model = load_model(config.train["model"])
    data = load_lareqa("xquad-r", languages=["en", "de", "es"], max_questions=12, data_root=data_dir)
    q, c, _ = encode_lareqa(Encoder(model, precision=config.eval_precision), data)
    sub = runner.subspace(model)
    want = evaluate_embeddings(data, sub.apply(q), sub.apply(c)).summary()["mul"]["map"]["mean"]
    assert debiased["summary"]["mul"]["map"]["mean"] == pytest.approx(want, abs=1e-6)
    assert plain["summary"]["mul"]["map"]["mean"] != pytest.approx(want, abs=1e-6)
    assert set(collect(runner)["xquad-r"]) == {"base", "base+debias"}

    only_base = replace(config, debias={**config.debias, "systems": ["base"]})
    assert [spec.name for spec in grid(only_base)][:3] == ["base", "base+debias", "mono-t0.05-s1"]
    assert sum(spec.debiased for spec in grid(only_base)) == 1
    assert ExperimentRunner(only_base, data_root=data_dir).identity(twin) == runner.identity(twin)
    with pytest.raises(LangmixError, match="debias: systems"):
        replace(tiny_experiment, debias={"source": "tatoeba", "systems": ["hybird"]}).validate()
    with pytest.raises(LangmixError, match="debias: unknown key"):
        replace(tiny_experiment, debias={"sauce": "tatoeba"}).validate()
    with pytest.raises(LangmixError, match="unknown estimation source"):
        replace(tiny_experiment, debias={"source": "wikipedia"}).validate()


def test_temperature_auto_is_resolved_for_the_start_model(tiny_experiment):
    """``auto`` in an experiment is the start model's own temperature (e5: 0.01); runs are named with it."""
    from dataclasses import replace

    embedded = replace(tiny_experiment, train={**tiny_experiment.train, "model": "embedded"})
    assert replace(embedded, temperatures=["auto", 0.05]).temperature_axis() == [0.01, 0.05]
    assert replace(tiny_experiment, temperatures=["auto"]).temperature_axis() == [0.05]  # unknown: 0.05
    names = [s.name for s in grid(replace(embedded, temperatures=["auto"]))]
    assert "mono-t0.01-s1" in names


def test_merge_weights_evaluate_interpolations_of_each_trained_model(tiny_experiment, data_dir, tmp_path):
    """``merge_weights`` adds, per trained run, its interpolation toward the start model: no second
    training (same run folder), its own evaluation folder and identity key, and the weights evaluated are
    exactly ``(1 - w) * trained + w * start``."""
    from dataclasses import replace

    import torch

    from langmix.experiments.collect import collect
    from langmix.experiments.grid import BASE_SPEC, RunSpec
    from langmix.models.loading import load_model

    config = replace(tiny_experiment, seeds=[1], strategies=["hybrid"], merge_weights=[0.25, 1.0])
    config.validate()
    assert [s.name for s in grid(config)] == [
        "base",
        "hybrid-a0.5-t0.05-s1",
        "hybrid-a0.5-t0.05+merge0.25-s1",
        "hybrid-a0.5-t0.05+merge1-s1",
    ]
    # a stand-in "trained" model: the start model with every weight moved
    trained = load_model(config.train["model"])
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.05 * torch.randn_like(p))
    trained.save(str(tmp_path / "trained"))
    runner = ExperimentRunner(config, data_root=data_dir, log=lambda line: None)
    runner.model_name = lambda spec: (
        config.train["model"] if spec.strategy == "base" else str(tmp_path / "trained")
    )
    spec = RunSpec("hybrid", 0.5, 0.05, 1, merge=0.25)
    assert runner.run_dir(spec) == runner.run_dir(spec.trained_as)
    merged = runner.load(spec).state_dict()
    start, moved = load_model(config.train["model"]).state_dict(), trained.state_dict()
    key = next(k for k, v in start.items() if v.is_floating_point() and v.ndim == 2)
    assert torch.allclose(merged[key], 0.75 * moved[key] + 0.25 * start[key], atol=1e-6)
    full = runner.load(replace(spec, merge=1.0)).state_dict()
    assert all(torch.equal(full[k], start[k]) for k in start)  # w = 1 is the start model exactly

    for each in (BASE_SPEC, replace(spec, merge=1.0)):
        runner.reconcile(each)
        runner.evaluate(each)
    folder = runner.eval_dir(replace(spec, merge=1.0), "xquad-r")
    assert folder.name == "xquad-r+merge1"
    base_doc = json.loads((runner.eval_dir(BASE_SPEC, "xquad-r") / "metrics.json").read_text())
    start_doc = json.loads((folder / "metrics.json").read_text())
    assert headline(start_doc) == pytest.approx(headline(base_doc))  # the start model, evaluated again
    recorded = json.loads((runner.run_dir(spec) / "identity.json").read_text())
    assert recorded["eval"]["xquad-r+merge1"]["merge_start_weight"] == 1.0
    assert set(collect(runner)["xquad-r"]) == {"base", "hybrid-a0.5-t0.05+merge1"}

    for bad, why in (([0.0], r"not in \(0, 1\]"), ([0.5, 0.5], "listed twice")):
        with pytest.raises(LangmixError, match=why):
            replace(config, merge_weights=bad).validate()
    with pytest.raises(LangmixError, match="not with train.merge_start"):
        replace(config, train={**config.train, "merge_start": 0.25}).validate()


def test_language_counts_train_nested_prefixes_of_the_given_languages(tiny_experiment):
    from dataclasses import replace

    from langmix.experiments.collect import hybrid_systems

    config = replace(
        tiny_experiment,
        train={**tiny_experiment.train, "languages": ["en", "de", "es", "ar"]},
        strategies=["mono", "hybrid"],
        seeds=[1],
        language_counts=[2, 4],
    )
    config.validate()
    names = [s.name for s in grid(config)]
    assert names == [
        "base",
        "mono-t0.05-L2-s1",
        "hybrid-a0.5-t0.05-L2-s1",
        "mono-t0.05-L4-s1",
        "hybrid-a0.5-t0.05-L4-s1",
    ]
    runner = ExperimentRunner(config, log=lambda line: None)
    trained = {s.name: runner.train_config(s)["languages"] for s in grid(config) if s.strategy != "base"}
    assert trained["mono-t0.05-L2-s1"] == ["en", "de"] and trained["hybrid-a0.5-t0.05-L4-s1"] == [
        "en",
        "de",
        "es",
        "ar",
    ]
    assert hybrid_systems(config) == ["hybrid-a0.5-t0.05-L2", "hybrid-a0.5-t0.05-L4"]
    for bad, why in (([1], "from 2"), ([5], "to 4"), ([2, 2], "listed twice")):
        with pytest.raises(LangmixError, match=why):
            replace(config, language_counts=bad).validate()
    no_order = {k: v for k, v in config.train.items() if k != "languages"}
    with pytest.raises(LangmixError, match="give train.languages too"):
        replace(config, train=no_order).validate()


def test_pretrain_step_runs_once_feeds_every_training_and_is_part_of_its_identity(tiny_experiment, data_dir):
    """``pretrain:`` runs MLM pretraining once into <out>/pretrain; every training starts from its model and
    carries its identity, so changing the block redoes the pretraining (the old one set aside) and makes
    every trained run stale, while the untrained row stays current."""
    from dataclasses import replace

    from langmix.experiments.grid import BASE_SPEC, RunSpec

    block = {"max_steps": 2, "max_texts": 40, "batch_size": 8, "max_seq_length": 32, "precision": "fp32"}
    config = replace(tiny_experiment, strategies=["hybrid"], seeds=[1], pretrain=block)
    config.validate()
    logs: list[str] = []
    runner = ExperimentRunner(config, data_root=data_dir, log=logs.append)
    runner.ensure_pretrained()
    folder = runner.root / "pretrain"
    info = json.loads((folder / "run.json").read_text())
    assert info["result"]["global_step"] == 2 and info["identity"] == runner.pretrain_identity()
    assert info["identity"]["options"]["languages"] == ["en", "de", "es"]  # the train block's
    spec = RunSpec("hybrid", 0.5, 0.05, 1)
    assert runner.train_config(spec)["model"] == str(folder / "model")
    assert runner.identity(spec)["train"]["pretrain"] == runner.pretrain_identity()
    assert "pretrain" not in runner.identity(BASE_SPEC)["train"]
    runner.ensure_pretrained()
    assert "finished earlier with the same settings: reused" in logs[-1]

    changed = ExperimentRunner(
        replace(config, pretrain={**block, "mlm_probability": 0.3}), data_root=data_dir, log=logs.append
    )
    assert changed.identity(spec)["train"] != runner.identity(spec)["train"]
    assert changed.identity(BASE_SPEC) == runner.identity(BASE_SPEC)
    changed.ensure_pretrained()
    assert any("(mlm_probability 0.15 -> 0.3)" in line and "stale" in line for line in logs)
    assert json.loads((folder / "run.json").read_text())["identity"]["options"]["mlm_probability"] == 0.3

    for bad, why in (({"model": "x"}, "unknown key"), ({"max_steps": 0}, "max_steps")):
        with pytest.raises(LangmixError, match=why):
            replace(config, pretrain=bad).validate()


def test_tatoeba_is_an_experiment_evaluation_with_its_own_summary(tiny_experiment, data_dir, tmp_path):
    """``evaluate: [xquad-r, tatoeba]``: each model is also scored on Tatoeba (numbers equal to a direct
    run_tatoeba), debiased twins on projected vectors, and the summary has a Tatoeba table with the hybrid's
    per-sentence and per-seed tests."""
    from dataclasses import replace

    from langmix.evaluation.tatoeba import TatoebaOptions, run_tatoeba
    from langmix.experiments.collect import collect, summarize
    from langmix.experiments.grid import BASE_SPEC, RunSpec
    from langmix.models.loading import load_model

    config = replace(
        tiny_experiment,
        strategies=["hybrid"],
        seeds=[1],
        evaluate=["xquad-r", "tatoeba"],
        tatoeba_languages="deu,spa",
        tatoeba_max_per_language=20,
        debias={"source": "training:mlqa-r", "per_language": 6, "k": 2},
    )
    config.validate()
    with pytest.raises(LangmixError, match="debias: source tatoeba with a tatoeba evaluation"):
        replace(config, debias={"source": "tatoeba"}).validate()
    with pytest.raises(LangmixError, match="source training:mlqa-r with a mlqa-r evaluation"):
        replace(config, evaluate=["mlqa-r"]).validate()
    replace(config, evaluate=["mlqa-r"], debias={"source": "lareqa:mlqa-r"}).validate()  # declared unfair
    other = load_model(config.train["model"])
    other[0].auto_model.encoder.layer[0].output.dense.weight.data.mul_(1.5)
    other.save(str(tmp_path / "other"))
    runner = ExperimentRunner(config, data_root=data_dir, log=lambda line: None)
    runner.model_name = lambda spec: (
        config.train["model"] if spec.strategy == "base" else str(tmp_path / "other")
    )
    hybrid = RunSpec("hybrid", 0.5, 0.05, 1)
    for spec in (BASE_SPEC, replace(BASE_SPEC, debiased=True), hybrid):
        runner.reconcile(spec)
        runner.evaluate(spec)
    doc = json.loads((runner.eval_dir(BASE_SPEC, "tatoeba") / "metrics.json").read_text())
    direct = run_tatoeba(
        load_model(config.train["model"]),
        TatoebaOptions(languages=["deu", "spa"], max_per_language=20, precision=config.eval_precision),
        data_root=data_dir,
    )
    assert doc["groups"]["all"]["x2en"] == pytest.approx(direct.result.groups["all"]["x2en"], abs=1e-6)
    assert doc["data"]["n_pairs"] == 40
    twin = json.loads(
        (runner.eval_dir(replace(BASE_SPEC, debiased=True), "tatoeba") / "metrics.json").read_text()
    )
    # the twin is the untrained model scored on projected vectors: equal to a direct run with that transform
    base = load_model(config.train["model"])
    projected = run_tatoeba(
        base,
        TatoebaOptions(languages=["deu", "spa"], max_per_language=20, precision=config.eval_precision),
        data_root=data_dir,
        transform=runner.subspace(base).apply,
    )
    assert twin["groups"]["all"]["x2en"] == pytest.approx(projected.result.groups["all"]["x2en"], abs=1e-6)
    assert twin["groups"]["all"]["en2x"] == pytest.approx(projected.result.groups["all"]["en2x"], abs=1e-6)
    saved = np.load(runner.eval_dir(replace(BASE_SPEC, debiased=True), "tatoeba") / "per_query.npz")
    for lang, directions in projected.result.hits.items():
        for direction, hits in directions.items():
            assert saved[f"{lang}_{direction}"].tolist() == hits.tolist()
    # and the projection changed what was retrieved (the tiny model is deterministic, so this is a fixed fact)
    assert any(
        (projected.result.hits[lang][d] != direct.result.hits[lang][d]).any()
        for lang in ("deu", "spa")
        for d in ("x2en", "en2x")
    )
    assert twin["model"]["debias"]["k"] == 2
    recorded = json.loads((runner.run_dir(BASE_SPEC) / "identity.json").read_text())["eval"]["tatoeba"]
    assert recorded["languages"] == ["deu", "spa"] and recorded["max_per_language"] == 20
    assert len(recorded["data"]) == 4  # two files per set

    from langmix.reports.experiment import markdown

    found = collect(runner)
    summary = summarize(config, found)
    text = markdown(replace(config, output_dir=str(tmp_path / "exp")), summary, found)
    assert "## tatoeba" in text and "| base | 1 |" in text and "X→en Δ" in text
    block = summary["datasets"]["tatoeba"]
    assert block["kind"] == "tatoeba" and set(block["systems"]) == {
        "base",
        "base+debias",
        "hybrid-a0.5-t0.05",
    }
    assert block["systems"]["base"]["x2en"]["mean"] == pytest.approx(doc["headline"]["x2en"])
    test = block["significance"]["hybrid-a0.5-t0.05"]["base"]["x2en"]
    assert test["queries"] == 40 and 0 <= test["p_value"] <= 1
    with pytest.raises(LangmixError, match="unknown language code"):
        replace(config, tatoeba_languages="deu,xx1").validate()


def test_recipe_key_shares_one_train_block(tmp_path):
    """``recipe: FILE`` takes FILE's train block (path relative to the including file); the including
    file's own train keys and ``--set train.*`` win."""
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "r.yaml").write_text(
        yaml.safe_dump({"train": {"max_steps": 200, "batch_size": 16, "temperature": "auto"}})
    )
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"name": "s", "recipe": "recipes/r.yaml", "train": {"batch_size": 8}}))
    config = load_experiment(study, parse_set(["train.max_steps=50"]))
    assert config.train == {"max_steps": 50, "batch_size": 8, "temperature": "auto"}
    study.write_text(yaml.safe_dump({"name": "s", "recipe": "recipes/missing.yaml"}))
    with pytest.raises(LangmixError, match="missing.yaml: experiment config not found"):
        load_experiment(study)
