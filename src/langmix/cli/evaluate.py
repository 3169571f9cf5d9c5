"""``langmix evaluate`` and ``langmix compare``: the LAReQA evaluation stage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from langmix.cli.app import app, console, evaluate_app, split_list
from langmix.data.benchmarks import LAREQA_BENCHMARKS
from langmix.data.lareqa import CANDIDATE_MODES
from langmix.errors import LangmixError
from langmix.evaluation.api import LareqaOptions, run_lareqa
from langmix.models.loading import load_model, model_display_name
from langmix.progress import RichProgress
from langmix.reports.compare import compare_table
from langmix.reports.lareqa import console_table, write_run_folder


def default_run_dir(dataset: str, model: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_display_name(model)).strip("_")
    return Path("runs") / "evaluate" / f"{dataset}__{slug}"


def evaluate_lareqa_command(
    model: str, options: LareqaOptions, out: Path | None, data_dir: Path | None
) -> dict:
    """Load ``model``, run the evaluation with progress bars, write the run folder, print the table."""
    if options.candidate_mode not in CANDIDATE_MODES:
        raise LangmixError(f"--candidate must be one of {', '.join(CANDIDATE_MODES)}")
    out = out or default_run_dir(options.dataset, model)
    console.print(f"[bold]langmix evaluate[/] {options.dataset} · model {model_display_name(model)} → {out}")
    st_model = load_model(model)
    run = run_lareqa(st_model, options, data_root=data_dir, progress=RichProgress(console))
    info = {"name": model_display_name(model)}
    doc = write_run_folder(run, info, out)
    Console().print(console_table(doc))
    for skipped in doc["data"]["skipped"]:
        console.print(f"[yellow]skipped[/] {skipped}")
    console.print(f"wrote {out}/metrics.json, report.md, heatmap_map.png, per_query.npz")
    return doc


def _lareqa_command(dataset: str):
    def command(
        model: Annotated[
            str, typer.Option(help="'embedded', a local path or a Hugging Face id")
        ] = "embedded",
        out: Annotated[
            Path | None, typer.Option(help="run folder (default runs/evaluate/<set>__<model>)")
        ] = None,
        langs: Annotated[str | None, typer.Option(help="comma-separated language subset")] = None,
        max_questions: Annotated[
            int | None, typer.Option(help="at most this many questions per language")
        ] = None,
        candidate: Annotated[
            str, typer.Option(help="candidate text: sentence | sentence+paragraph")
        ] = "sentence",
        batch_size: Annotated[int, typer.Option(min=1)] = 64,
        max_length: Annotated[int | None, typer.Option(min=8, help="max tokens per text")] = None,
        skip_invalid: Annotated[
            bool, typer.Option(help="skip bad records (listed in the report), don't fail")
        ] = False,
        cache: Annotated[bool, typer.Option(help="reuse/store embeddings in the on-disk cache")] = True,
        data_dir: Annotated[
            Path | None, typer.Option(envvar="LANGMIX_DATA_DIR", help="folder holding lareqa/")
        ] = None,
    ) -> None:
        options = LareqaOptions(
            dataset=dataset,
            languages=split_list(langs),
            max_questions=max_questions,
            candidate_mode=candidate,
            batch_size=batch_size,
            max_length=max_length,
            strict=not skip_invalid,
            use_cache=cache,
        )
        evaluate_lareqa_command(model, options, out, data_dir)

    command.__doc__ = (
        f"{dataset.upper()} (LAReQA): Mo., Cr., Mul. mAP, R@1/10, mAP@20 and rank distance of a model."
    )
    return command


for _name in LAREQA_BENCHMARKS:
    evaluate_app.command(_name)(_lareqa_command(_name))


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="run folders or metrics.json files; first = baseline")],
):
    """Print LAReQA runs side by side with deltas against the first."""
    Console().print(compare_table(runs))
