"""Rendering of a retrieval run (MIRACL, BEIR): ``report.md`` and the terminal table, both read from the
metrics document alone (:func:`langmix.evaluation.retrieval.summarize`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.table import Table

from langmix.evaluation.run_folder import ran_on


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def render_markdown(summary: Mapping[str, Any]) -> str:
    metrics = summary["metrics"]
    lines = [
        f"# {summary['benchmark']} retrieval evaluation",
        "",
        f"{summary['n_queries']} judged queries, {summary['n_languages']} language(s)"
        + (f"; encoded at {where}." if (where := ran_on(summary)) else "."),
        "",
        f"Scoring: {summary['semantics']}.",
        "",
        "| language | queries | " + " | ".join(metrics) + " |",
        "|---|---:|" + "---:|" * len(metrics),
    ]
    for lang, row in summary["languages"].items():
        lines.append(f"| {lang} | {row['n_queries']} | " + " | ".join(_fmt(row[m]) for m in metrics) + " |")
    for name in ("mean", "median"):
        lines.append(
            f"| **{name}** | | " + " | ".join(f"**{_fmt(summary[name][m])}**" for m in metrics) + " |"
        )
    notes = [
        f"- {label}: excluded from every mean and median ({why.get('reason', 'no judged queries')})."
        for label, why in (summary.get("excluded_groups") or {}).items()
    ]
    for lang, row in summary["languages"].items():
        if row.get("n_missing_from_run"):
            notes.append(
                f"- {lang}: {row['n_missing_from_run']} judged queries absent from the run (scored 0)."
            )
        unknown = row.get("qrels_docs_not_in_corpus")
        if unknown and unknown.get("pairs"):
            notes.append(
                f"- {lang}: {unknown['pairs']} judged (query, doc) pairs name docs absent from the corpus "
                f"({unknown['relevant_pairs']} relevant, {unknown['queries']} queries), e.g. "
                f"{', '.join(unknown['examples'][:3])}; they stay in the qrels, as trec_eval keeps them."
            )
    if notes:
        lines += ["", "## Notes", "", *notes]
    config = summary.get("config") or {}
    if config:
        lines += [
            "",
            "## Configuration",
            "",
            "```json",
            json.dumps(config, indent=2, ensure_ascii=False),
            "```",
        ]
    lines.append("")
    return "\n".join(lines)


def rich_table(summary: Mapping[str, Any]) -> Table:
    metrics = summary["metrics"]
    table = Table(title=f"{summary['benchmark']} (trec_eval -c)")
    table.add_column("language")
    table.add_column("queries", justify="right")
    for m in metrics:
        table.add_column(m, justify="right")
    for lang, row in summary["languages"].items():
        table.add_row(lang, str(row["n_queries"]), *(_fmt(row[m]) for m in metrics))
    table.add_section()
    for name in ("mean", "median"):
        table.add_row(f"[bold]{name}[/]", "", *(f"[bold]{_fmt(summary[name][m])}[/]" for m in metrics))
    return table


def report_files(summary: Mapping[str, Any]) -> dict[str, str | bytes]:
    """The files rendered into a MIRACL / BEIR run folder (a ``Renderer`` for
    :func:`langmix.evaluation.retrieval.evaluate_pools`)."""
    return {"report.md": render_markdown(summary)}
