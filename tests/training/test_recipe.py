"""The embedded model trains with langmix's chosen recipe by default; anything given explicitly wins, and
the committed configs that predate the recipe keep what they trained (their identity is unchanged)."""

from __future__ import annotations

from pathlib import Path

import yaml

from langmix.experiments.grid import ExperimentRunner, grid, load_experiment
from langmix.training import TrainConfig, load_config
from langmix.training.config import identity_options
from langmix.training.recipe import EMBEDDED_RECIPE

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_the_embedded_model_defaults_to_the_recipe():
    config = load_config()
    assert config.model == "embedded"
    for key, value in EMBEDDED_RECIPE.items():
        assert getattr(config, key) == value, key
    # the recipe differs from the plain defaults where issue 13's screening said it should
    plain = TrainConfig()
    assert (plain.hard_negatives, plain.merge_start, plain.temperature, plain.max_steps) == (0, 0.0, 0.05, -1)
    assert (config.hard_negatives, config.merge_start, config.temperature, config.max_steps) == (
        1,
        0.25,
        "auto",
        200,
    )


def test_given_values_win_over_the_recipe_from_flags_set_and_files(tmp_path):
    config = load_config(None, {"hard_negatives": 0, "batch-size": 32, "lr": 1e-5})
    assert (config.hard_negatives, config.batch_size, config.learning_rate) == (0, 32, 1e-5)
    assert config.merge_start == 0.25  # the rest of the recipe stays
    path = tmp_path / "c.yaml"
    path.write_text("model: embedded\nmerge_start: 0\ntemperature: 0.05\n")
    config = load_config(path, {"max_seq_length": 96})
    assert (config.merge_start, config.temperature, config.max_seq_length) == (0.0, 0.05, 96)
    assert config.hard_negatives == 1
    assert identity_options(config) == identity_options(
        TrainConfig(**{**EMBEDDED_RECIPE, "merge_start": 0.0, "temperature": 0.05, "max_seq_length": 96})
    )


def test_giving_epochs_or_max_steps_replaces_the_recipes_length():
    by_epochs = load_config(None, {"epochs": 2})
    assert (by_epochs.epochs, by_epochs.max_steps) == (2.0, -1)
    by_steps = load_config(None, {"max-steps": 50})
    assert (by_steps.epochs, by_steps.max_steps) == (1.0, 50)
    assert load_config(None, {"epochs": None}).max_steps == 200  # a flag not given is not a choice


def test_other_start_models_keep_the_plain_defaults(tmp_path):
    config = load_config(None, {"model": str(tmp_path / "my-model")})
    assert identity_options(config) == identity_options(TrainConfig(model=str(tmp_path / "my-model")))
    assert load_config(None, {"model": "intfloat/multilingual-e5-small"}).hard_negatives == 1  # same model


def test_committed_configs_made_before_the_recipe_keep_their_training(tmp_path):
    """Their published numbers were made with the plain defaults: each pins what the recipe would change."""
    paper = load_config(CONFIGS / "train-paper.yaml")
    assert (paper.epochs, paper.max_steps, paper.freeze_embeddings) == (3.0, -1, False)
    assert (paper.hard_negatives, paper.merge_start, paper.max_seq_length) == (0, 0.0, 128)
    cpu = load_config(CONFIGS / "train-mlqa-hybrid-cpu.yaml")
    assert (cpu.hard_negatives, cpu.merge_start, cpu.val_fraction) == (0, 0.0, 0.05)
    for name in ("cpu-mlqa2xquad.yaml", "cpu-xquad2mlqa.yaml", "recipe-screen.yaml"):
        config = load_experiment(CONFIGS / name)
        spec = next(s for s in grid(config) if s.strategy != "base")
        options = identity_options(load_config(None, ExperimentRunner(config).train_config(spec)))
        assert options["hard_negatives"] == 0 and "merge_start" not in options, name
    block = yaml.safe_load((CONFIGS / "recipe.yaml").read_text(encoding="utf-8"))["train"]
    assert {k: block[k] for k in EMBEDDED_RECIPE} == EMBEDDED_RECIPE
