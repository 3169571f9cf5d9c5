"""The typer application shared by every stage's commands, and the one place errors become one line."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from langmix.errors import LangmixError

app = typer.Typer(
    name="langmix",
    help="Train and evaluate multilingual dense retrievers with hybrid batch training.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
evaluate_app = typer.Typer(
    help="Evaluate a model: xquad-r / mlqa-r (LAReQA), miracl, or a BEIR-format set.",
    no_args_is_help=True,
)
app.add_typer(evaluate_app, name="evaluate")
console = Console(stderr=True)


def split_list(value: str | None) -> list[str] | None:
    """``"en, de,zh"`` -> ``["en", "de", "zh"]``; None or empty -> None (comma-separated CLI options)."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def main() -> None:
    """Console entry point: user errors (bad data, options, files) print one line, never a traceback."""
    try:
        app()
    except LangmixError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
