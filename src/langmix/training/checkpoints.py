"""Which checkpoint a run resumes from: the latest *complete* one.

The trainer writes a checkpoint file by file. A kill, a full disk or a crashed node can leave one without
``trainer_state.json`` or with a truncated ``optimizer.pt``; transformers' ``get_last_checkpoint`` picks it
anyway (it only asks whether the folder exists) and every later ``--resume auto`` crashes on it until someone
deletes it by hand. Here a checkpoint counts only when every file a resume reads is there and whole: JSON
parses, a safetensors file is exactly as long as its header says, a torch file is a readable zip archive.
A torn checkpoint is moved aside (``torn-checkpoint-<n>``, so nothing is lost and the trainer's own listing
no longer sees it) and the previous complete one is used, with a one-line notice.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

from langmix.errors import LangmixError

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# What a resume reads besides the weights (transformers' Trainer._load_optimizer_and_scheduler would
# silently start a fresh optimizer and schedule without the first two).
REQUIRED = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
TORCH_FILES = (".pt", ".pth", ".bin")


def _safetensors_problem(path: Path, size: int) -> str | None:
    """A safetensors file is an 8-byte header length, a JSON header, then exactly the bytes it lists."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return "is truncated"
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            return "is truncated"
        try:
            header = json.loads(fh.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "has an unreadable header"
    try:
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except (AttributeError, KeyError, IndexError, TypeError):
        return "has an unreadable header"
    return None if size == 8 + length + end else "is truncated"


def file_problem(path: Path) -> str | None:
    """What is wrong with one checkpoint file (``"is empty"``, ``"is truncated"`` ...), or None."""
    size = path.stat().st_size
    if size == 0:
        return "is empty"
    if path.suffix == ".json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "is not valid JSON"
    elif path.suffix == ".safetensors":
        return _safetensors_problem(path, size)
    elif path.suffix in TORCH_FILES:
        try:  # torch.save writes a zip archive whose directory is at its end: a truncated one has none
            with zipfile.ZipFile(path) as archive:
                if any(i.header_offset + i.compress_size > size for i in archive.infolist()):
                    return "is truncated"
        except (zipfile.BadZipFile, OSError, ValueError):
            return "is truncated or not a torch file"
    return None


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be resumed from (one phrase), or None when it is complete."""
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        return f"{', '.join(missing)} missing"
    if not any((folder / name).is_file() for name in WEIGHTS):
        return "no model weights"
    if not any(folder.glob("rng_state*.pth")):
        return "rng_state.pth missing"
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        problem = file_problem(path)
        if problem:
            return f"{path.relative_to(folder)} {problem}"
    state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    step = _CHECKPOINT.match(folder.name)
    if step and (not isinstance(state, dict) or state.get("global_step") != int(step.group(1))):
        return "trainer_state.json is of another step"
    return None


def checkpoints(folder: Path) -> list[Path]:
    """The ``checkpoint-<n>`` folders in ``folder``, newest (highest step) first."""
    if not folder.is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()
    ]
    return [p for _, p in sorted(found, reverse=True)]


def _set_aside(checkpoint: Path) -> Path:
    target = checkpoint.with_name(f"torn-{checkpoint.name}")
    n = 1
    while target.exists():
        n += 1
        target = checkpoint.with_name(f"torn-{checkpoint.name}.{n}")
    checkpoint.rename(target)
    return target


def latest_complete(folder: Path, *, notice: Callable[[str], None], move_torn: bool = True) -> Path | None:
    """The newest complete checkpoint in ``folder`` (None if there is none). Each newer, torn one is reported
    in one line and, with ``move_torn`` (main process only), moved aside so the trainer never reuses it."""
    torn: list[tuple[Path, str]] = []
    found = None
    for checkpoint in checkpoints(folder):
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            found = checkpoint
            break
        torn.append((checkpoint, problem))
    for checkpoint, problem in torn:
        where = f"moved to {_set_aside(checkpoint).name}" if move_torn else "skipped"
        then = f"resuming from {found.name}" if found else "no complete checkpoint left: starting from step 0"
        notice(f"{checkpoint} is incomplete ({problem}), {where}; {then}")
    return found


def resume_from(
    resume: str | None, checkpoint_dir: Path, *, notice: Callable[[str], None], main: bool = True
) -> Path | None:
    """The checkpoint a ``resume`` setting means: ``auto`` -> the newest complete one in ``checkpoint_dir``
    (None: start from the beginning), a folder -> that folder, if complete."""
    if not resume:
        return None
    if resume == "auto":
        return latest_complete(checkpoint_dir, notice=notice, move_torn=main)
    folder = Path(resume)
    if not folder.is_dir():
        raise LangmixError(f"resume: checkpoint folder {folder} not found")
    problem = checkpoint_problem(folder)
    if problem:
        raise LangmixError(f"resume: {folder} is incomplete ({problem}); resume from an earlier checkpoint")
    return folder
