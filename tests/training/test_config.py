"""Training options are declared once (TrainConfig): YAML, --set, the experiment's train block, the
``langmix train`` flags and the trainer arguments all follow the same fields, checks and help."""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from langmix.batching.samplers import effective_alpha
from langmix.cli import app
from langmix.errors import LangmixError
from langmix.training import TrainConfig, load_config, parse_set
from langmix.training.config import FIELDS, validate_train_block
from langmix.training.setup import resolve_prompts, training_arguments

# Every flag the CLI had before it was generated from TrainConfig (README, docs and tests use them).
FLAGS = [
    "--data",
    "--strategy",
    "--alpha",
    "--model",
    "--languages",
    "--batch-size",
    "--max-steps",
    "--epochs",
    "--lr",
    "--temperature",
    "--loss",
    "--mini-batch-size",
    "--max-seq-length",
    "--freeze-embeddings",
    "--train-embeddings",
    "--hard-negatives",
    "--passage",
    "--max-items",
    "--val-fraction",
    "--eval-steps",
    "--lareqa-eval",
    "--precision",
    "--seed",
    "--threads",
    "--out",
    "--resume",
    "--data-dir",
    "--set",
    "--config",
]


def test_strategy_alpha_rule():
    assert (effective_alpha("mono", 0.3), effective_alpha("cross", 0.3), effective_alpha("hybrid", 0.3)) == (
        1.0,
        0.0,
        0.3,
    )
    with pytest.raises(LangmixError, match="alpha 1.5 is outside"):
        effective_alpha("mono", 1.5)
    with pytest.raises(LangmixError, match="strategy must be one of"):
        effective_alpha("mixed", 0.5)


def test_experiment_train_block_is_checked_by_the_fields():
    block = validate_train_block({"max_steps": 100, "batch-size": "16", "data": "mlqa-r", "lr": 1e-5})
    assert block == {"max_steps": 100, "batch_size": 16, "data": ["mlqa-r"], "learning_rate": 1e-5}
    for bad, message in (
        ({"max_stepz": 1}, "unknown train field 'max_stepz'"),
        ({"batch_size": "many"}, "batch_size: cannot use 'many'"),
        ({"batch_size": 1}, "batch_size must be at least 2"),
        ({"alpha": 2}, "alpha 2.0 is outside"),
        ({"loss": "hinge"}, "loss must be one of mnrl, cached"),
    ):
        with pytest.raises(LangmixError, match=re.escape(message)):
            validate_train_block(bad)


def test_yaml_and_set_values_are_parsed_as_their_fields(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: mlqa-r\nalpha: 1\nthreads: null\nfreeze_embeddings: 'yes'\n")
    config = load_config(path, parse_set(["languages=en,de", "lr=1e-5", "trainer_args={optim: sgd}"]))
    assert config.data == ["mlqa-r"] and config.alpha == 1.0 and config.freeze_embeddings is True
    assert config.languages == ["en", "de"] and config.learning_rate == 1e-5
    assert config.trainer_args == {"optim": "sgd"}
    with pytest.raises(LangmixError, match="unknown training option 'colour'"):
        load_config(overrides={"colour": "blue"})


def test_every_field_is_a_documented_flag_and_the_old_flags_still_work(monkeypatch, tmp_path):
    runner = CliRunner()
    shown = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    for flag in FLAGS:
        assert flag in shown, flag
    for field in FIELDS.values():
        assert field.metadata["help"], f"{field.name} has no help text"
        assert f"--{field.name.replace('_', '-')}" in shown, field.name

    seen = {}

    def fake_train(config, **kwargs):
        seen["config"] = config
        comp = {"by_kind": {"mono": 0, "cross": 0}}
        return SimpleNamespace(
            process_index=0,
            composition={"trained": comp},
            global_step=0,
            runtime_s=0.0,
            best_metric=None,
            model_dir=tmp_path,
            temperature=config.temperature,
            unmerged_model_dir=None,
        )

    monkeypatch.setattr("langmix.training.train", fake_train)
    args = [
        "train",
        "--lr",
        "1e-4",
        "--out",
        str(tmp_path / "run"),
        "--data-dir",
        str(tmp_path),
        "--epochs",
        "2",
        "--languages",
        "en,de",
        "--freeze-embeddings",
        "--max-seq-length",
        "48",
        "--set",
        "warmup=0",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.learning_rate, config.output_dir, config.data_root) == (
        1e-4,
        str(tmp_path / "run"),
        str(tmp_path),
    )
    assert (config.epochs, config.languages, config.freeze_embeddings, config.max_seq_length) == (
        2.0,
        ["en", "de"],
        True,
        48,
    )
    assert config.warmup == 0.0 and config.strategy == "hybrid"  # not given: the default stands


class _Model:
    def __init__(self, prompts):
        self.prompts = prompts


def test_training_prompts_follow_the_one_prompt_rule():
    """A passage prompt stored under "document" prefixes positives and hard negatives, as in evaluation."""
    model = _Model({"query": "q: ", "document": "d: "})
    assert resolve_prompts(TrainConfig(), model, 1) == {
        "anchor": "q: ",
        "positive": "d: ",
        "negative_1": "d: ",
    }
    assert resolve_prompts(TrainConfig(query_prompt="", passage_prompt="p: "), model, 0) == {
        "positive": "p: "
    }
    assert resolve_prompts(TrainConfig(query_prompt=None), _Model({}), 0) == {}


def test_trainer_arguments_come_from_the_fields(tmp_path):
    config = TrainConfig(
        output_dir=str(tmp_path),
        learning_rate=1e-4,
        epochs=2.0,
        warmup=5,
        precision="fp32",
        seed=3,
        trainer_args={"adam_beta2": 0.98},
    )
    args = training_arguments(config, {"anchor": "q: "}, has_eval=False)
    for field in dataclasses.fields(config):
        if field.metadata["trainer"]:
            assert getattr(args, field.metadata["trainer"]) == getattr(config, field.name), field.name
    assert args.output_dir == str(tmp_path / "checkpoints") and args.warmup_steps == 5
    assert args.per_device_train_batch_size == config.batch_size and args.adam_beta2 == 0.98
    assert args.eval_strategy == "no" and args.prompts == {"anchor": "q: "}


@pytest.mark.parametrize(
    ("requested", "native", "bf16", "use_cpu"),
    [
        ("fp32", True, False, False),  # fp32 on one CPU process: the arguments it always had
        ("bf16", False, True, True),  # explicit: passes through; on CPU through use_cpu (autocast)
        ("auto", True, True, True),  # a CPU with AVX512-BF16 / AMX-BF16
        ("auto", False, False, False),  # a CPU without: fp32
    ],
)
def test_precision_is_resolved_for_the_trainer_device(
    tmp_path, monkeypatch, requested, native, bf16, use_cpu
):
    import langmix.models.precision as precision
    import langmix.training.setup as setup

    monkeypatch.setattr(setup, "trainer_device", lambda config: "cpu")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    config = TrainConfig(output_dir=str(tmp_path), precision=requested)
    args = training_arguments(config, {}, has_eval=False)
    assert (args.bf16, args.fp16, args.use_cpu) == (bf16, False, use_cpu)
    assert load_config(overrides={"precision": requested}).precision == requested  # kept as asked


def test_fp16_training_on_cpu_is_refused(tmp_path, monkeypatch):
    import langmix.training.setup as setup

    monkeypatch.setattr(setup, "trainer_device", lambda config: "cpu")
    with pytest.raises(LangmixError, match="fp16"):
        training_arguments(TrainConfig(output_dir=str(tmp_path), precision="fp16"), {}, has_eval=False)
    with pytest.raises(LangmixError, match="precision must be one of auto, fp32, bf16, fp16"):
        load_config(overrides={"precision": "fp8"})
