"""Issue 13's recipe screening as one table: every system of every screening experiment folder, with its
training time (docs/results.md "Recipe screening").

    python scripts/recipe_screen_table.py runs/experiments/recipe-screen*

Each folder is a finished ``langmix experiment configs/recipe-screen.yaml [--set ...] --out FOLDER``; the
numbers are read back from its ``summary.json`` (one seed each, so no ± here) and the training time from
each run's ``run.json``. The lever is the folder name after ``recipe-screen-`` (``reference`` for the plain
one); a merged variant adds ``+ merge w``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = (("mo_map", 3), ("cr_map", 3), ("mul_map", 3), ("mul_r@10", 3), ("rank_distance", 1))


def _train_info(folder: Path, system: str, seed: int) -> tuple[str, str]:
    """(steps, minutes) of the training behind ``system`` (a merged variant shares its run's)."""
    plain = system.split("+", 1)[0]
    info_path = folder / "runs" / f"{plain}-s{seed}" / "train" / "run.json"
    if not info_path.is_file():
        return "–", "–"
    result = json.loads(info_path.read_text(encoding="utf-8")).get("result") or {}
    steps = str(result.get("global_step", "–"))
    best = (result.get("best_checkpoint") or "").rsplit("checkpoint-", 1)[-1]
    if best and best != steps:  # the model is the checkpoint with the lowest validation loss
        steps += f" (kept {best})"
    return steps, f"{result.get('runtime_s', 0) / 60:.1f}"


def _label(lever: str, system: str) -> str:
    """``hn1 + merge 0.25 + debias`` from the folder's lever and the system's suffixes."""
    name, *suffixes = system.split("+")
    label = ["untrained" if name == "base" else lever]
    for suffix in suffixes:
        label.append(f"merge {suffix.removeprefix('merge')}" if suffix.startswith("merge") else suffix)
    return " + ".join(label)


def rows(folders: list[Path], dataset: str) -> list[list[str]]:
    out = []
    for folder in folders:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        lever = folder.name.removeprefix("recipe-screen").lstrip("-") or "reference"
        systems = summary["datasets"][dataset]["systems"]
        for system in sorted(systems, key=lambda s: (s != "base", s)):
            table = systems[system]
            label = (
                "untrained"
                if system == "base"
                else lever + (f" + merge {system.split('+merge', 1)[1]}" if "+merge" in system else "")
            )
            steps, minutes = ("0", "0") if system == "base" else _train_info(folder, system, 1)
            cells = [f"{table[key]['mean']:.{digits}f}" for key, digits in COLUMNS]
            out.append([label, system, steps, minutes, *cells])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--dataset", default="xquad-r")
    args = parser.parse_args()
    header = [
        "lever",
        "system",
        "steps",
        "train min",
        "Mo. mAP",
        "Cr. mAP",
        "Mul. mAP",
        "Mul. R@10",
        "rank d.",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows(args.folders, args.dataset):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
