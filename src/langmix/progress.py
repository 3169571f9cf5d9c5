"""One progress protocol for the whole library, and one rich renderer for the CLI.

Library code only ever does::

    with progress.task("encode de", total=n) as advance:
        advance(k)            # k more units done

The default :data:`SILENT` draws nothing, so notebook and test callers stay quiet; the CLI passes a
:class:`RichProgress`. Code that knows an absolute count (e.g. "12,000 passages done, finished shards
included") converts it with :func:`absolute`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

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

Advance = Callable[[int], None]


class ProgressSink(Protocol):
    """Anything with ``task(label, total)`` yielding an ``advance(n)`` callable."""

    def task(self, label: str, total: int | None) -> AbstractContextManager[Advance]: ...


class Silent:
    """Draws nothing (the library default)."""

    @contextmanager
    def task(self, label: str, total: int | None) -> Iterator[Advance]:
        yield lambda n: None


SILENT = Silent()


class RichProgress:
    """One rich progress bar per task, on ``console`` (stderr by default)."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)

    @contextmanager
    def task(self, label: str, total: int | None) -> Iterator[Advance]:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as bar:
            task_id = bar.add_task(label, total=total)
            yield lambda n: bar.advance(task_id, n)


def absolute(advance: Advance) -> Callable[[int], None]:
    """Adapt ``advance(n)`` to a callback that receives the running total done so far."""
    seen = 0

    def update(done: int) -> None:
        nonlocal seen
        if done > seen:
            advance(done - seen)
            seen = done

    return update
