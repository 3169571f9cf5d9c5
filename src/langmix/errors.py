"""Errors that the CLI turns into one readable line instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class LangmixError(Exception):
    """Base class for user-facing errors (bad input, missing files, bad options)."""


class DataError(LangmixError):
    """A data file is missing, malformed or inconsistent.

    The message always names the file and, where there is one, the record, so a user can open
    the file and find the problem without a debugger.
    """

    def __init__(self, path: str | Path, problem: str, record: str | None = None):
        self.path = str(path)
        self.record = record
        self.problem = problem
        where = f"{self.path}: {record}" if record else self.path
        super().__init__(f"{where}: {problem}")
