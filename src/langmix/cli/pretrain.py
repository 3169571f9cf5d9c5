"""``langmix pretrain``: domain-adaptive MLM pretraining (a thin wrapper over
:func:`langmix.training.pretrain.pretrain`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from langmix.cli.app import app, check_output, console
from langmix.models.precision import DEFAULT_PRECISION
from langmix.training.pretrain import PretrainConfig, pretrain

_DEFAULT = PretrainConfig()


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


@app.command("pretrain")
def pretrain_command(
    out: Annotated[Path, typer.Option("--out", help="run folder; the model is <out>/model")] = Path(
        _DEFAULT.output_dir
    ),
    model: Annotated[str, typer.Option(help="'embedded', a local folder or a Hugging Face id")] = "embedded",
    data: Annotated[
        str, typer.Option(help="training set(s) whose passages are the text, comma-separated")
    ] = "mlqa-r",
    text_dir: Annotated[
        Path | None, typer.Option(help="instead: every non-empty line of the .txt files in this folder")
    ] = None,
    languages: Annotated[str | None, typer.Option(help="languages of --data (default: all)")] = None,
    max_texts: Annotated[int | None, typer.Option(help="at most this many texts (seeded sample)")] = None,
    max_seq_length: Annotated[int, typer.Option()] = _DEFAULT.max_seq_length,
    mlm_probability: Annotated[float, typer.Option(help="share of tokens masked")] = _DEFAULT.mlm_probability,
    batch_size: Annotated[int, typer.Option()] = _DEFAULT.batch_size,
    max_steps: Annotated[int, typer.Option()] = _DEFAULT.max_steps,
    learning_rate: Annotated[float, typer.Option("--learning-rate", "--lr")] = _DEFAULT.learning_rate,
    warmup: Annotated[float, typer.Option(help="share of steps (< 1) or steps")] = _DEFAULT.warmup,
    val_fraction: Annotated[
        float, typer.Option(help="held-out texts for the MLM loss before / after")
    ] = _DEFAULT.val_fraction,
    seed: Annotated[int, typer.Option()] = _DEFAULT.seed,
    precision: Annotated[str, typer.Option(help="auto | fp32 | bf16 | fp16")] = DEFAULT_PRECISION,
    resume: Annotated[
        bool, typer.Option(help="continue an interrupted run of the same settings in --out")
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="replace a run of other settings in --out")] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="folder holding lareqa/", envvar="LANGMIX_DATA_DIR")
    ] = None,
) -> None:
    """Masked-language-model pretraining of the model's encoder on in-domain text (default: the training
    set's passages), saving a model that `langmix train --model <out>/model` starts from."""
    check_output(out)
    config = PretrainConfig(
        output_dir=str(out),
        model=model,
        data=_csv(data) or [],
        text_dir=str(text_dir) if text_dir else None,
        languages=_csv(languages),
        data_root=str(data_dir) if data_dir else None,
        max_texts=max_texts,
        max_seq_length=max_seq_length,
        mlm_probability=mlm_probability,
        batch_size=batch_size,
        max_steps=max_steps,
        learning_rate=learning_rate,
        warmup=warmup,
        val_fraction=val_fraction,
        seed=seed,
        precision=precision,
        resume="auto" if resume else None,
        overwrite=overwrite,
    ).validate()
    console.print(f"[bold]langmix pretrain[/] {model} → {out}", highlight=False)
    result = pretrain(config, notice=lambda line: console.print(line, markup=False, highlight=False))
    console.print(
        f"{result.global_step} steps in {result.runtime_s:.0f} s; held-out MLM loss "
        f"{_loss(result.val_loss_before)} → {_loss(result.val_loss_after)}; model: {result.model_dir}",
        markup=False,
        highlight=False,
    )


def _loss(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
