"""``langmix debias MODEL --out DIR``: remove the language-identity directions, save a plain ST model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from langmix.cli.app import app, check_output, console, split_list
from langmix.cli.retrieval import PrecisionOption
from langmix.models.debias import METADATA, SOURCE_HELP, UNFAIR, DebiasOptions, debias, parse_source
from langmix.models.encoder import ENCODE_BATCH_SIZE
from langmix.models.loading import model_display_name
from langmix.models.precision import DEFAULT_PRECISION
from langmix.progress import RichProgress

SHOWN_SINGULAR_VALUES = 5


@app.command("debias")
def debias_command(
    model: Annotated[str, typer.Argument(help="'embedded', a local path or a Hugging Face id")],
    out: Annotated[Path, typer.Option(help="folder for the debiased sentence-transformers model")],
    source: Annotated[
        str, typer.Option(help=f"unlabelled text per language: {SOURCE_HELP} (lareqa: not fair)")
    ] = "tatoeba",
    k: Annotated[int | None, typer.Option(min=1, help="directions removed (default: languages - 1)")] = None,
    languages: Annotated[
        str | None,
        typer.Option(help="comma-separated ISO 639-1 codes (default: XQuAD-R's 11 for tatoeba, else all)"),
    ] = None,
    per_language: Annotated[int, typer.Option(min=1, help="texts sampled per language")] = 500,
    seed: Annotated[int, typer.Option(help="seed of the per-language sample")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="texts per encoder batch")] = ENCODE_BATCH_SIZE,
    precision: PrecisionOption = DEFAULT_PRECISION,
    overwrite: Annotated[
        bool, typer.Option(help=f"replace an existing --out written by langmix debias (with {METADATA})")
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option(envvar="LANGMIX_DATA_DIR", help="folder holding tatoeba/ and lareqa/")
    ] = None,
) -> None:
    """Estimate the language-identity subspace from unlabelled text and save MODEL with it projected out."""
    options = DebiasOptions(
        source=source,
        languages=split_list(languages),
        k=k,
        per_language=per_language,
        seed=seed,
        precision=precision,
        batch_size=batch_size,
    )
    check_output(out)
    where = escape(f"{model_display_name(model)} · source {source} → {out}")
    console.print(f"[bold]langmix debias[/] {where}")
    if not parse_source(source).fair:
        console.print(f"[bold yellow]{UNFAIR}[/]: the subspace is estimated on the evaluation pool itself")
    result = debias(
        model, out, options, data_root=data_dir, overwrite=overwrite, progress=RichProgress(console)
    )
    est = result.metadata["estimation"]
    top = ", ".join(f"{s:.3f}" for s in result.metadata["singular_values"][:SHOWN_SINGULAR_VALUES])
    console.print(
        f"languages {','.join(est['languages'])} ({min(est['texts'].values())}-{max(est['texts'].values())} "
        f"texts each, seed {est['seed']}) · k {result.subspace.k} · top singular values {top}",
        highlight=False,
    )
    saved = escape(str(result.out))
    console.print(f"wrote {saved} (load with SentenceTransformer('{saved}')) and {METADATA}")
