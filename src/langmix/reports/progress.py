"""Progress reporting that the library can call and the CLI can render with rich.

The library only calls ``tracker.task(label, total)`` and the returned ``advance(n)``; with the
default :class:`Tracker` nothing is drawn, so notebook and test callers stay quiet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Tracker:
    """Silent progress sink."""

    @contextmanager
    def task(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda n: None


class RichTracker(Tracker):
    """Draws one rich progress bar per task on ``console`` (stderr by default)."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)

    @contextmanager
    def task(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as progress:
            task_id = progress.add_task(label, total=total)
            yield lambda n: progress.advance(task_id, n)
