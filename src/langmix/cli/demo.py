"""``langmix demo``: the main job of the README on the embedded default model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from langmix.cli.app import app
from langmix.cli.evaluate import evaluate_lareqa_command
from langmix.evaluation.api import LareqaOptions


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the run")] = Path("runs/demo"),
    max_questions: Annotated[
        int | None, typer.Option(help="cap questions per language for a quick look")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(envvar="LANGMIX_DATA_DIR", help="folder holding lareqa/")
    ] = None,
) -> None:
    """Zero-shot LAReQA evaluation of the embedded multilingual-e5-small on full XQuAD-R."""
    options = LareqaOptions(dataset="xquad-r", max_questions=max_questions)
    evaluate_lareqa_command("embedded", options, out / "xquad-r", data_dir)
