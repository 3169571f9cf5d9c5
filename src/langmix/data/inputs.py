"""Reading user files so that no bad byte, truncated file or odd label reaches a number or a path.

Every reader in ``langmix.data`` goes through these, so a problem is always one
:class:`~langmix.errors.DataError` naming the file and the record, never a traceback:

* :func:`iter_lines` — the lines of a UTF-8 text file (``.gz`` through gzip), each decoded on its own, so
  an invalid byte is reported with its line number (a text-mode reader only knows the block it was in);
  an unreadable or truncated file names itself.
* :func:`read_json_document` — a whole JSON file (SQuAD/LAReQA), with its sha256.
* :func:`check_language_code` — a language label read from user data (``lang`` fields, file names,
  mappings). Labels become file names (``runs/<lang>.trec``) and report rows, so anything that is not a
  plain code (``en``, ``pt-BR``, ``zh_Hans``) — ``../../x``, ``en/fr``, ``English`` — is refused here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langmix.errors import DataError

# ISO 639-1/-3 code, optionally followed by BCP-47-like subtags: en, fil, pt-BR, zh_Hans, sr-Latn-RS
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def check_language_code(lang: Any, where: str | Path, record: str | None = None) -> str:
    """``lang`` if it is a language code; otherwise a DataError naming ``where`` (and ``record``)."""
    if not isinstance(lang, str) or not LANGUAGE_CODE.match(lang):
        raise DataError(
            where,
            f"{lang!r} is not a language code (expected e.g. 'en', 'de', 'zh', 'pt-BR'); fix the label",
            record,
        )
    return lang


def _unreadable(path: Path, exc: BaseException) -> DataError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return DataError(path, f"cannot read the file ({reason}); is it truncated or corrupt?")


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of every line of a UTF-8 file (``.gz``: gzip), line endings kept."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        handle = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
        with handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(
                        path,
                        f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                        "re-save the file as UTF-8",
                        f"line {number}",
                    ) from None
                yield number, text
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise _unreadable(path, exc) from None


def read_json_document(path: str | Path) -> tuple[Any, str]:
    """A whole JSON file and the sha256 of its bytes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(
            path, f"not valid JSON (truncated or corrupt?): line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError(
            path, f"not UTF-8 text: {exc.reason} at byte {exc.start}; re-save it as UTF-8"
        ) from None
    return doc, hashlib.sha256(raw).hexdigest()
