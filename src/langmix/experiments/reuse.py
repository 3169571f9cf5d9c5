"""Reuse across experiments: a study adopts another experiment's finished trainings and evaluations where
they were made with the same settings (``reuse_from`` in the experiment file).

Why: the studies and the recipe grid train the same models (one recipe, the same seeds); retraining them
costs an hour on a CPU. Identity before reuse: a run's recorded identity (``identity.json``) is compared part
by part with the one this experiment expects — the training part (options, data content, start model,
precision) for the model, each evaluation's own part for its results — and only equal parts are taken, as
hard links; everything else is done here as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from langmix.experiments.identity import recorded_run_identity
from langmix.io import link_tree
from langmix.training.identity import is_finished


def adopt_run(
    sources: Iterable[str | Path],
    run_dir: Path,
    expected: dict[str, Any],
    eval_keys: Iterable[str],
    *,
    trained: bool,
    log: Callable[[str], None],
) -> None:
    """Fill what ``run_dir`` lacks (its ``train/`` when ``trained``, an ``eval/<key>/`` per key) from the
    first of ``sources`` (experiment folders) whose same-named run recorded equal parts of ``expected``.
    What the run folder already holds is never replaced: its own work, finished or resumable, comes first."""
    for root in sources:
        source = Path(root) / "runs" / run_dir.name
        recorded = recorded_run_identity(source)
        if not recorded or recorded.get("train") != expected["train"]:
            continue
        taken = []
        if trained and not (run_dir / "train").exists() and is_finished(source / "train"):
            link_tree(source / "train", run_dir / "train")
            taken.append("training")
        for key in eval_keys:
            own, theirs = run_dir / "eval" / key, source / "eval" / key
            same = (recorded.get("eval") or {}).get(key) == expected["eval"][key]
            if same and not own.exists() and (theirs / "metrics.json").is_file():
                link_tree(theirs, own)
                taken.append(f"{key} evaluation")
        if taken:
            log(f"[{run_dir.name}] reused from {source} (same settings): {', '.join(taken)}")
