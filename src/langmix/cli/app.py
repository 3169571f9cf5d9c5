"""The typer application shared by every stage's commands, and the one place errors become one line."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from langmix.errors import LangmixError, user_error

DEBUG_ENV = "LANGMIX_DEBUG"
_debug = False


class OneLineErrors(TyperGroup):
    """Turns what a command raises because of its input or its environment (an unreadable or corrupt file,
    an unwritable output) into a :class:`LangmixError`, which :func:`main` prints as one ``error:`` line.

    Here, inside the command, and not in :func:`main`, because typer turns an ``EOFError`` into a bare
    ``Aborted.`` before :func:`main` could see it. Anything else is a bug and keeps its traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (LangmixError, click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            error = user_error(exc)
            if error is None:
                raise
            raise error from exc


app = typer.Typer(
    name="langmix",
    help="Train and evaluate multilingual dense retrievers with hybrid batch training.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=OneLineErrors,
)


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", envvar=DEBUG_ENV, help="on an error, print the traceback too")
    ] = False,
) -> None:
    """Train and evaluate multilingual dense retrievers with hybrid batch training."""
    global _debug
    _debug = debug


evaluate_app = typer.Typer(
    help="Evaluate a model: xquad-r / mlqa-r (LAReQA), miracl, or a BEIR-format set.",
    no_args_is_help=True,
)
app.add_typer(evaluate_app, name="evaluate")
console = Console(stderr=True)


def split_list(value: str | None) -> list[str] | None:
    """``"en, de,zh"`` -> ``["en", "de", "zh"]``; None or empty -> None (comma-separated CLI options)."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_max_questions(value: str | int | None) -> int | None:
    """``--max-questions``: a count >= 1, or ``all`` (None: every question). Refused at parse time, as 0
    would evaluate nothing and a negative count would silently drop questions."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    try:
        count = int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither a number of questions nor 'all'") from None
    if count < 1:
        raise typer.BadParameter(f"{count} questions per language: give at least 1, or 'all'")
    return count


def check_output(path: Path, option: str = "--out", *, folder: bool = True) -> Path:
    """Refuse an output path that cannot be written, before any model is loaded or any work is done: an
    existing file where a folder is wanted (or the reverse), a file in the way of a parent folder, or a
    place this user cannot write. Nothing is created here."""
    kind, other = ("folder", "file") if folder else ("file", "folder")
    if path.exists() and path.is_dir() != folder:
        raise LangmixError(f"{option} {path}: exists and is a {other}, not a {kind}; give a {kind} path")
    ancestor = path if folder else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise LangmixError(f"{option} {path}: {ancestor} is a file, so no {kind} can be made under it")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise LangmixError(f"{option} {path}: {ancestor} is not writable; choose another {option}")
    return path


def error_line(message: str) -> Text:
    """``error: <message>`` on one line, the message taken literally: a path or id like ``a[/x]`` is text,
    never rich markup."""
    return Text.assemble(("error:", "bold red"), " ", " ".join(message.split()))


def main() -> None:
    """Console entry point: user errors (bad data, options, files) print one line, never a traceback (with
    ``--debug`` or ``LANGMIX_DEBUG=1`` the traceback comes first); the exit code is 2."""
    try:
        app()
    except LangmixError as exc:
        if _debug or os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes"):
            traceback.print_exception(exc)
        console.print(error_line(str(exc)), highlight=False, soft_wrap=True)
        sys.exit(2)
