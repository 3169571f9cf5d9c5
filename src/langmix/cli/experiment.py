"""``langmix experiment``: a grid of trainings, each evaluated, summarised with tests and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from langmix.cli.app import app, console
from langmix.cli.retrieval import check_precision
from langmix.experiments.grid import ExperimentConfig, ExperimentRunner, load_experiment
from langmix.progress import RichProgress
from langmix.reports.experiment import print_summary, write_summary
from langmix.reports.lareqa import report_files
from langmix.reports.tatoeba import report_files as tatoeba_report_files
from langmix.training.config import parse_set


def run_experiment_config(
    config: ExperimentConfig, *, data_dir: Path | None, summary_only: bool = False
) -> dict:
    """Run (or resume) ``config`` with progress bars, then write and print its summary."""
    runner = ExperimentRunner(
        config,
        data_root=data_dir,
        progress=RichProgress(console),
        log=lambda msg: console.print(msg, highlight=False),
        render=report_files,
        render_tatoeba=tatoeba_report_files,
    )
    if not summary_only:
        runner.run()
    summary = write_summary(runner)
    print_summary(summary)
    console.print(f"wrote {config.output_dir}/summary.md, summary.json and plots")
    return summary


def run_experiment(
    config_path: Path,
    *,
    data_dir: Path | None,
    output_dir: Path | None = None,
    summary_only: bool = False,
    overrides: dict | None = None,
) -> dict:
    overrides = dict(overrides or {})
    if output_dir:
        overrides["output_dir"] = str(output_dir)
    config = load_experiment(config_path, overrides)
    return run_experiment_config(config, data_dir=data_dir, summary_only=summary_only)


@app.command()
def experiment(
    config: Annotated[Path, typer.Argument(help="experiment YAML (see configs/)")],
    out: Annotated[Path | None, typer.Option(help="override the config's output_dir")] = None,
    summary_only: Annotated[bool, typer.Option(help="only rebuild the summary from finished runs")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="override a config key: --set alpha_sweep=[0.25,0.75], --set train.max_steps=100"
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="auto | fp32 | bf16 | fp16 for every training and evaluation (default: the config's "
            "train.precision and eval_precision)",
            callback=check_precision,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(envvar="LANGMIX_DATA_DIR", help="folder holding lareqa/")
    ] = None,
) -> None:
    """Train every run of a grid (skipping finished ones), evaluate each, write the summary."""
    overrides = parse_set(set_)
    if precision is not None:
        overrides.update({"train.precision": precision, "eval_precision": precision})
    run_experiment(config, data_dir=data_dir, output_dir=out, summary_only=summary_only, overrides=overrides)
