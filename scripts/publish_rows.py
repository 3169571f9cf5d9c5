"""Rows of a published table from an experiment's ``summary.json``: the markdown row for the doc and the
matching ``published`` entry for ``reproductions.yaml``, both from one formatting, so the two agree.

    python scripts/publish_rows.py runs/experiments/recipe results-recipe xquad-r \
        base="untrained" hybrid-a0.5-t0.01="hybrid α 0.5"
    python scripts/publish_rows.py runs/experiments/recipe results-recipe-significance xquad-r \
        --against hybrid-a0.5-t0.01 base="untrained" mono-t0.01="X-X-mono"

The table's columns (and which summary numbers fill each cell) come from ``reproductions.yaml``'s
``tables`` entry. ``--against H`` makes rows of H's paired tests against each listed baseline.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def _number(key: str, value: float) -> str:
    """One number as the docs print it: counts whole, p-values 2 significant digits, Δ signed."""
    if key.endswith("/n"):
        return str(int(value))
    if key.endswith("p_value"):
        return f"{value:.2g}"
    if key.endswith("delta_in_seed_sd"):
        return f"{value:+.1f}".replace("-", "−")
    if key.endswith("delta"):
        return f"{value:+.3f}".replace("-", "−")
    digits = 1 if "rank_distance" in key else 3
    return f"{value:.{digits}f}"


def _lookup(doc: dict[str, Any], path: str) -> Any:
    for part in path.split("/"):
        doc = doc[part]
    return doc


def cell(block: dict[str, Any], paths: list[str]) -> str:
    """The printed cell: ``mean ± std`` (one seed: the mean alone), or a test ``Δ (p …; sd, p_seed …)``."""
    values = [_lookup(block, p) for p in paths]
    if paths[0].endswith("delta"):
        text = f"{_number(paths[0], values[0])} (p {_number(paths[1], values[1])}"
        if len(values) == 4 and math.isfinite(values[2]) and math.isfinite(values[3]):
            text += f"; {_number(paths[2], values[2])} sd, p_seed {_number(paths[3], values[3])}"
        return text + ")"
    if len(paths) == 2 and _lookup(block, paths[0].rsplit("/", 1)[0] + "/n") > 1:
        return f"{_number(paths[0], values[0])} ± {_number(paths[1], values[1])}"
    return _number(paths[0], values[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the experiment's output folder (holds summary.json)")
    parser.add_argument("table", help="a table name of reproductions.yaml")
    parser.add_argument("dataset")
    parser.add_argument("rows", nargs="+", help="SYSTEM=row label")
    parser.add_argument("--against", help="rows of this system's tests against each SYSTEM listed")
    a = parser.parse_args()
    columns = yaml.safe_load((REPO / "reproductions.yaml").read_text(encoding="utf-8"))["tables"][a.table]
    columns = columns["columns"]
    summary = json.loads((a.folder / "summary.json").read_text(encoding="utf-8"))["datasets"][a.dataset]
    lines, entries = [], []
    for item in a.rows:
        system, label = item.split("=", 1)
        if a.against:
            block, where = summary["significance"][a.against][system], f"significance/{a.against}/{system}"
        else:
            block, where = summary["systems"][system], f"systems/{system}"
        cells = {name: cell(block, paths) for name, paths in columns.items()}
        lines.append(f"| {label} | " + " | ".join(cells.values()) + " |")
        entries.append(
            {
                "table": a.table,
                "row": label,
                "from": f"summary.json/datasets/{a.dataset}/{where}",
                "cells": cells,
            }
        )
    print("\n".join(lines))
    print()
    print(yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=110))


if __name__ == "__main__":
    main()
