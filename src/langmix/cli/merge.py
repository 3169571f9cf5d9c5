"""``langmix merge A B --weight W --out DIR``: weight interpolation of two models (WiSE-FT / LM-Cocktail)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from langmix.cli.app import app, check_output, console
from langmix.models.loading import model_display_name
from langmix.models.merge import METADATA, merge_models


@app.command("merge")
def merge_command(
    model_a: Annotated[
        str, typer.Argument(help="first model: 'embedded', a local folder or a Hugging Face id")
    ],
    model_b: Annotated[str, typer.Argument(help="second model, same architecture")],
    weight: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of B: 0 gives A, 1 gives B, 0.5 the mean")
    ],
    out: Annotated[Path, typer.Option(help="folder for the merged sentence-transformers model")],
    overwrite: Annotated[
        bool, typer.Option(help=f"replace an existing --out written by langmix merge (with {METADATA})")
    ] = False,
) -> None:
    """Save (1 - W) x A + W x B, parameter by parameter, as a plain sentence-transformers folder with A's
    settings (tokenizer, prompts, pooling, maximum length). E.g. A = the start model, B = a fine-tuned one."""
    check_output(out)
    console.print(
        f"[bold]langmix merge[/] {model_display_name(model_a)} x {1 - weight:g} + "
        f"{model_display_name(model_b)} x {weight:g} → {out}",
        highlight=False,
    )
    meta = merge_models(model_a, model_b, weight, out, overwrite=overwrite)
    console.print(
        f"wrote {out} (load with SentenceTransformer('{out}')) and {METADATA}; fingerprint "
        f"{meta['fingerprint'][:12]}",
        markup=False,
        highlight=False,
    )
