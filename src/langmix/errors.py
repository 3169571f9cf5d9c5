"""Errors that the CLI turns into one readable line instead of a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
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


# Exceptions that, raised while reading or writing a named file, mean the file (or the place) is unusable:
# unreadable, truncated, corrupt or not where it should be. Anything else stays a bug with a traceback.
FILE_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, RuntimeError, KeyError)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def describe(exc: BaseException) -> str:
    """What went wrong, in one line and without internals (``Permission denied``, ``invalid JSON ...``)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename is not None else exc.strerror
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text: {exc.reason} at byte {exc.start}"
    text = _one_line(str(exc))
    if "faiss" in text and "Error in" in text:  # faiss: "Error in <signature> at <file>:<line>: <message>"
        text = text.rsplit(": ", 1)[-1]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _named(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` is one of the named classes (safetensors', yaml's: this module imports neither)."""
    return any(cls.__name__ in names for cls in type(exc).__mro__)


def _is_file_error(exc: BaseException) -> bool:
    return isinstance(exc, FILE_ERRORS) or _named(exc, "SafetensorError", "YAMLError")


@contextmanager
def reading(path: str | Path, what: str, remedy: str) -> Iterator[None]:
    """Turn a failure while reading ``path`` into one :class:`DataError` naming it and what to do.

    For boundaries where the file is known but the reader is a library (faiss, numpy, safetensors)::

        with reading(folder, "index", "rebuild it with `langmix index`"):
            index = SearchIndex.load(folder)
    """
    try:
        yield
    except LangmixError:
        raise
    except Exception as exc:
        if not _is_file_error(exc):
            raise
        raise DataError(path, f"cannot read the {what} ({describe(exc)}); {remedy}") from exc


def user_error(exc: BaseException) -> LangmixError | None:
    """The one-line error an exception that escaped to the command line stands for, or None for a bug.

    The last net under :func:`reading` and the readers of ``langmix.data``: an OS error names its file, and
    a decode, JSON, YAML, safetensors, faiss or end-of-file error says what kind of input was bad.
    """
    if isinstance(exc, LangmixError):
        return exc
    if isinstance(exc, OSError) and exc.filename is not None:
        target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else str(exc.filename)
        return LangmixError(
            f"{target}: {exc.strerror or describe(exc)}; check that the path exists, is the right kind "
            "(file or folder) and is writable, or choose another one"
        )
    if isinstance(exc, UnicodeDecodeError | json.JSONDecodeError | EOFError) or _named(
        exc, "SafetensorError", "YAMLError"
    ):
        return LangmixError(
            f"an input file is unreadable or corrupt ({describe(exc)}); rerun with --debug to see which"
        )
    if isinstance(exc, OSError):
        return LangmixError(f"{describe(exc)} (rerun with --debug for the traceback)")
    if isinstance(exc, RuntimeError) and "faiss" in str(exc):
        return LangmixError(f"faiss failed ({describe(exc)}); rebuild the index with `langmix index`")
    return None
