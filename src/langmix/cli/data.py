"""``langmix data``: the declared benchmarks and whether they are here; fetch the pinned official files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from langmix.cli.app import app, check_output, console
from langmix.data.benchmarks import BENCHMARKS
from langmix.data.fetch import MIRROR_ENV, Presence, fetch, presence
from langmix.paths import data_cache_dir, data_dir
from langmix.progress import RichProgress

data_app = typer.Typer(
    help="Benchmark data: list the declared sets and where they are, fetch the pinned official files.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


def say(message: str) -> None:
    """Print ``message`` as written (paths and URLs are never read as markup)."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


@data_app.command("fetch")
def fetch_command(
    names: Annotated[list[str], typer.Argument(help=f"benchmarks: {', '.join(BENCHMARKS)}, or all")],
    dest: Annotated[
        Path | None,
        typer.Option(
            help="data root to fill (default: langmix's cache, read when LANGMIX_DATA_DIR is unset)"
        ),
    ] = None,
    mirror: Annotated[
        str | None,
        typer.Option(envvar=MIRROR_ENV, help="base URL serving the data-root layout, instead of upstream"),
    ] = None,
) -> None:
    """Download what is missing, sha256-checked, atomically; files already there are kept."""
    root = check_output(dest, "--dest") if dest is not None else data_cache_dir()
    fetched = fetch(names, root=root, mirror=mirror, progress=RichProgress(console), log=say)
    say(f"{len(fetched)} file(s) downloaded; {' '.join(names)} complete in {root} (sha256 checked)")
    if dest is None and data_dir() is not None:
        say(f"note: LANGMIX_DATA_DIR={data_dir()} is set, so commands read from there, not the cache")


def _status(p: Presence) -> str:
    if p.complete:
        return "[green]present[/]"
    if p.present == p.modified == 0:
        return "missing"
    modified = f", {p.modified} modified" if p.modified else ""
    return f"[yellow]{p.present}/{p.total} files{modified}[/]"


@data_app.command("list")
def list_command() -> None:
    """Every declared benchmark: languages, main metric, licence, pinned source, and whether it is here."""
    env = data_dir()
    root = env if env is not None else data_cache_dir()
    where = f"LANGMIX_DATA_DIR={env}" if env is not None else f"the cache {root} (LANGMIX_DATA_DIR unset)"
    table = Table(title=Text(f"benchmarks, read from {where}"), title_justify="left")
    for column in ("name", "langs", "main metric", "licence", "here"):
        table.add_column(column)
    for bench in BENCHMARKS.values():
        row = (bench.name, str(len(bench.languages)), bench.metric, bench.licence)
        table.add_row(*row, _status(presence(bench, root)))
    out = Console()
    out.print(table)
    for bench in BENCHMARKS.values():
        corpus = f"; corpus {bench.corpus}@{bench.corpus_revision}" if bench.corpus else ""
        out.print(
            f"{bench.name}: github.com/{bench.repo}@{bench.revision}{corpus}", highlight=False, soft_wrap=True
        )
