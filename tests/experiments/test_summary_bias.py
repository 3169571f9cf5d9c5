"""Experiment summaries carry the language-bias columns next to rank distance, and plot bias vs quality."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from langmix.evaluation.run_folder import LAREQA_BIAS_COLUMNS, LAREQA_COLUMNS
from langmix.experiments.collect import bias_table, system_table
from langmix.reports.experiment import _table_lines, plot_bias_quality, print_summary


def _doc(mul_map: float, own10: float | None) -> dict:
    def rows(value: float) -> dict:
        return {"mean": value}

    summary = {s: {m: rows(mul_map) for m in ("map", "r@1", "r@10")} for s in ("mo", "cr", "mul")}
    summary["mul"]["rank_distance"] = rows(100 * own10 if own10 else 500.0)
    doc = {"kind": "lareqa", "summary": summary}
    if own10 is not None:
        doc["bias"] = {key: rows(own10) for key, _ in LAREQA_BIAS_COLUMNS}
    return doc


def _block(runs: dict[str, list[dict]]) -> dict:
    records = {name: [(None, doc, {}) for doc in docs] for name, docs in runs.items()}
    bias = {name: bias_table(recs) for name, recs in records.items()}
    return {
        "systems": {name: system_table(recs) for name, recs in records.items()},
        "significance": {},
        "alpha_sweep": [],
        "bias": {name: table for name, table in bias.items() if table is not None},
    }


def test_bias_columns_mean_over_seeds_and_old_runs_left_blank():
    block = _block(
        {"base": [_doc(0.3, 0.6)], "mono-t0.05": [_doc(0.4, 0.5), _doc(0.5, 0.3)], "old": [_doc(0.2, None)]}
    )
    assert block["bias"]["mono-t0.05"]["own@10"]["mean"] == pytest.approx(0.4)
    assert block["bias"]["mono-t0.05"]["own@10"]["values"] == [0.5, 0.3]
    assert "old" not in block["bias"]  # written before the bias metrics: no column values
    lines = _table_lines("xquad-r", block)
    header = lines[2]
    assert (
        header.index("rank dist.") < header.index("own@10")
        and header.count("|") == 2 + len(LAREQA_COLUMNS) + len(LAREQA_BIAS_COLUMNS) + 1
    )
    assert any(line.startswith("| old | 1 |") and line.endswith("– | – | – | – | – |") for line in lines)
    out = Console(width=300, file=io.StringIO(), record=True)
    print_summary({"name": "t", "datasets": {"xquad-r": block}}, out)
    assert "Max@R" in out.export_text()
    assert plot_bias_quality(block, "t: xquad-r")[:4] == b"\x89PNG"
