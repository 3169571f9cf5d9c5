"""``langmix train``: hybrid batch training (a thin wrapper over :func:`langmix.training.train`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from langmix.cli.app import app, console


@app.command("train")
def train_command(
    config: Annotated[Path | None, typer.Option(help="YAML config (options below override it)")] = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="comma-separated: mlqa-r | xquad-r | folder of <lang>.json | file.jsonl | mmarco[:path]"
        ),
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="mono | cross | hybrid")] = None,
    alpha: Annotated[float | None, typer.Option(help="hybrid: probability of a monolingual batch")] = None,
    model: Annotated[str | None, typer.Option(help="'embedded', a local folder or a Hugging Face id")] = None,
    languages: Annotated[str | None, typer.Option(help="comma-separated training languages")] = None,
    batch_size: Annotated[int | None, typer.Option(help="rows per batch per device")] = None,
    max_steps: Annotated[int | None, typer.Option(help="optimizer steps (overrides --epochs)")] = None,
    epochs: Annotated[float | None, typer.Option()] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate (paper: 3e-5)")] = None,
    temperature: Annotated[float | None, typer.Option(help="InfoNCE temperature (scale = 1/T)")] = None,
    loss: Annotated[str | None, typer.Option(help="mnrl | cached (GradCache, for large batches)")] = None,
    mini_batch_size: Annotated[int | None, typer.Option(help="cached loss: rows encoded at once")] = None,
    max_seq_length: Annotated[int | None, typer.Option(help="max tokens per text")] = None,
    freeze_embeddings: Annotated[
        bool | None, typer.Option("--freeze-embeddings/--train-embeddings", help="freeze word embeddings")
    ] = None,
    hard_negatives: Annotated[
        int | None, typer.Option(help="hard negatives per row (data must have them)")
    ] = None,
    passage: Annotated[str | None, typer.Option(help="SQuAD data: sentence | sentence+paragraph")] = None,
    max_items: Annotated[int | None, typer.Option(help="at most this many ids per dataset")] = None,
    val_fraction: Annotated[
        float | None, typer.Option(help="share of ids held out for the validation loss")
    ] = None,
    eval_steps: Annotated[int | None, typer.Option(help="validate and checkpoint every N steps")] = None,
    lareqa_eval: Annotated[
        str | None, typer.Option(help="xquad-r | mlqa-r: LAReQA mAP at each validation")
    ] = None,
    precision: Annotated[str | None, typer.Option(help="fp32 | bf16 | fp16")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    threads: Annotated[
        int | None, typer.Option(help="torch CPU threads (1 is often fastest on a busy CPU)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="run folder (default runs/train/latest)")] = None,
    resume: Annotated[
        str | None, typer.Option(help="'auto' (latest checkpoint in the run folder) or a path")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(envvar="LANGMIX_DATA_DIR", help="folder holding lareqa/")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="any config field: --set key=value (repeatable)")
    ] = None,
) -> None:
    """Fine-tune a retriever with monolingual, cross-lingual or hybrid batches (SPEC §2-3)."""
    from langmix.training import load_config, train
    from langmix.training.config import parse_set

    overrides = {
        "data": data,
        "strategy": strategy,
        "alpha": alpha,
        "model": model,
        "languages": languages,
        "batch_size": batch_size,
        "max_steps": max_steps,
        "epochs": epochs,
        "learning_rate": lr,
        "temperature": temperature,
        "loss": loss,
        "mini_batch_size": mini_batch_size,
        "max_seq_length": max_seq_length,
        "freeze_embeddings": freeze_embeddings,
        "hard_negatives": hard_negatives,
        "passage": passage,
        "max_items": max_items,
        "val_fraction": val_fraction,
        "eval_steps": eval_steps,
        "lareqa_eval": lareqa_eval,
        "precision": precision,
        "seed": seed,
        "threads": threads,
        "output_dir": str(out) if out else None,
        "resume": resume,
        "data_root": str(data_dir) if data_dir else None,
    }
    overrides.update(parse_set(set_))
    cfg = load_config(config, overrides)
    console.print(
        f"[bold]langmix train[/] {cfg.strategy} (alpha {cfg.alpha}) · data {', '.join(cfg.data)} · "
        f"model {cfg.model} → {cfg.output_dir}",
        highlight=False,
    )
    result = train(cfg)
    if result.process_index != 0:
        return
    comp = result.composition["trained"]
    console.print(
        f"done: {result.global_step} steps in {result.runtime_s:.0f}s · "
        f"batches mono {comp['by_kind']['mono']} / "
        f"cross {comp['by_kind']['cross']} · best validation loss "
        f"{'-' if result.best_metric is None else f'{result.best_metric:.4f}'}",
        highlight=False,
    )
    console.print(f"model: {result.model_dir}  (SentenceTransformer('{result.model_dir}'))", highlight=False)
