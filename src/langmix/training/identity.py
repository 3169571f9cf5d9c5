"""A training run's identity, and the rules for an output folder that already holds a run.

A run folder is reused two ways: ``--resume`` continues the run in it, and an experiment skips a run that
finished earlier. Both are right only if the folder holds *the same work*. The identity recorded in
``run.json`` is what decides it: every option that changes what is trained (:func:`identity_options`), a
digest of the training data's content (not its path: an edited file with the same name is other data), the
starting model's fingerprint (weights and encoding configuration), the precision the trainer resolved and
the number of processes (the batch plan depends on it).

The folder rules (:func:`claim_run_folder`): a folder that holds a run is never written over silently. A new
run there needs ``--overwrite`` (the old run's files are removed, its completion marker first); a resume
needs the recorded identity to equal the new one, and otherwise names what differs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from langmix.data.parallel import ParallelDataset
from langmix.errors import LangmixError
from langmix.training.config import TrainConfig, identity_options

# What a training run writes in its folder (api.py); --overwrite removes these and nothing else.
RUN_FILES = ("run.json", "config.yaml", "log_history.json", "batch_composition.json")
RUN_FOLDERS = ("checkpoints", "model", "model-unmerged")
BATCH_LOGS = "batches.rank*.jsonl"


def data_digest(datasets: Iterable[ParallelDataset]) -> str:
    """A hash of the loaded training data: every id, language, query, positive and hard negative, in order."""
    digest = hashlib.blake2b(digest_size=16)
    for ds in datasets:
        digest.update(b"\x00dataset\x00")
        for item in ds.items:
            parts = [item.id]
            for lang in sorted(item.texts):
                text = item.texts[lang]
                parts += [lang, text.query, text.positive, *text.negatives, ""]
            digest.update("\x1f".join(parts).encode("utf-8") + b"\x1e")
    return digest.hexdigest()


def run_identity(
    config: TrainConfig,
    datasets: Sequence[ParallelDataset],
    model_fingerprint: str,
    precision: str,
    world_size: int,
) -> dict[str, Any]:
    """What makes a training run this run (see the module docstring); recorded in ``run.json``."""
    return {
        "options": json.loads(json.dumps(identity_options(config))),  # as JSON stores it: tuples -> lists
        "data": data_digest(datasets),
        "model": model_fingerprint,
        "precision": precision,
        "world_size": world_size,
    }


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 40 else f"{text[:12]}…"


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two identities, one phrase each: ``learning_rate 0.001 -> 0.0001``,
    ``data 3f2a9c0d… -> 9b1ce2aa…``. Option names are shown without their ``options.`` prefix."""
    a, b = _flat(old), _flat(new)
    out = []
    for key in sorted(set(a) | set(b), key=lambda k: (not k.startswith("options."), k)):
        if a.get(key, "(unset)") != b.get(key, "(unset)"):
            shown = key.removeprefix("options.")
            out.append(f"{shown} {_shown(a.get(key, '(unset)'))} -> {_shown(b.get(key, '(unset)'))}")
    return out


def _read_run_info(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "run.json"
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def recorded_identity(run_dir: Path) -> dict[str, Any] | None:
    """The identity a run folder recorded in its ``run.json`` (None: none, or unreadable)."""
    recorded = (_read_run_info(Path(run_dir)) or {}).get("identity")
    return recorded if isinstance(recorded, dict) else None


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds (part of) a training run."""
    return any((run_dir / name).exists() for name in (*RUN_FILES, *RUN_FOLDERS)) or any(
        run_dir.glob(BATCH_LOGS)
    )


def is_finished(run_dir: Path) -> bool:
    """A run is finished when ``run.json`` has its ``result`` (written last, after the model)."""
    info = _read_run_info(run_dir)
    return bool(info) and "result" in info


def clear_run(run_dir: Path) -> None:
    """Remove a run's files (``--overwrite``): the completion marker first, so a kill in between leaves an
    unfinished run, never a finished one with missing parts."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for path in run_dir.glob(BATCH_LOGS):
        path.unlink()
    for name in RUN_FOLDERS:
        if (run_dir / name).is_dir():
            shutil.rmtree(run_dir / name)


def check_same_run(run_dir: Path, identity: Mapping[str, Any], what: str) -> None:
    """LangmixError unless ``run_dir`` recorded ``identity``: the one line names what differs."""
    info = _read_run_info(run_dir)
    recorded = (info or {}).get("identity")
    fix = "use the settings it was made with, or start over with --overwrite or another --out"
    if not isinstance(recorded, dict):
        raise LangmixError(
            f"{what}: {run_dir} has no recorded identity (an older or interrupted langmix run), so it cannot "
            f"be checked to be this run; {fix}"
        )
    diffs = differences(recorded, identity)
    if diffs:
        raise LangmixError(f"{what}: {run_dir} was made with other settings ({'; '.join(diffs)}); {fix}")


def claim_run_folder(run_dir: Path, config: TrainConfig | Any, identity: Mapping[str, Any]) -> None:
    """Apply the folder rules before anything is written (main process only): refuse a folder that holds
    another run unless ``--overwrite`` (then clear it), and a resume of a run made with other settings.
    ``config`` is any run configuration with ``overwrite`` and ``resume`` (training's, pretraining's)."""
    if config.overwrite:
        if holds_run(run_dir):
            clear_run(run_dir)
        return
    if config.resume and config.resume != "auto":
        source = Path(config.resume).parent.parent  # <run>/checkpoints/checkpoint-<n>
        check_same_run(source, identity, f"resume from {config.resume}")
    if not holds_run(run_dir):
        return
    if not config.resume:
        state = "a finished" if is_finished(run_dir) else "an unfinished"
        resume = "" if is_finished(run_dir) else "continue it with --resume auto, "
        raise LangmixError(
            f"{run_dir} already holds {state} training run; {resume}replace it with --overwrite, or choose "
            "another --out"
        )
    check_same_run(run_dir, identity, "resume")
