"""Side-by-side view of several LAReQA runs, each relative to the first (the baseline)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from langmix.errors import LangmixError
from langmix.reports.lareqa import headline

# the headline columns of every LAReQA comparison (compare, experiment summaries)
COLUMNS = (
    ("mo_map", "Mo. mAP"),
    ("cr_map", "Cr. mAP"),
    ("mul_map", "Mul. mAP"),
    ("mul_r@1", "Mul. R@1"),
    ("mul_r@10", "Mul. R@10"),
    ("rank_distance", "rank dist."),
)


def load_metrics(run: str | Path) -> dict:
    path = Path(run)
    path = path / "metrics.json" if path.is_dir() else path
    if not path.is_file():
        raise LangmixError(f"{path}: no metrics.json (is this a finished langmix evaluate run?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LangmixError(f"{path}: not valid JSON: {exc}") from None


def compare_rows(docs: list[dict]) -> list[dict[str, float]]:
    """Headline numbers per run plus ``delta_<key>`` relative to the first run."""
    benches = {d["benchmark"] for d in docs}
    if len(benches) > 1:
        raise LangmixError(
            f"runs are on different benchmarks ({', '.join(sorted(benches))}); compare like with like"
        )
    base = headline(docs[0])
    rows = []
    for doc in docs:
        row = headline(doc)
        row.update({f"delta_{k}": row[k] - base[k] for k in base})
        rows.append(row)
    return rows


def compare_table(runs: list[str | Path]) -> Table:
    docs = [load_metrics(r) for r in runs]
    rows = compare_rows(docs)
    table = Table(title=f"{docs[0]['benchmark']}: runs compared with {Path(runs[0]).name}")
    table.add_column("run")
    table.add_column("model")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    for run, doc, row in zip(runs, docs, rows, strict=True):
        cells = []
        for key, _ in COLUMNS:
            digits = 1 if key == "rank_distance" else 3
            cell = f"{row[key]:.{digits}f}"
            if run is not runs[0]:
                delta = row[f"delta_{key}"]
                better = delta < 0 if key == "rank_distance" else delta > 0
                color = "green" if better else "red" if delta else "white"
                cell += f" [{color}]({delta:+.{digits}f})[/]"
            cells.append(cell)
        table.add_row(Path(run).name, doc["model"]["name"], *cells)
    return table
