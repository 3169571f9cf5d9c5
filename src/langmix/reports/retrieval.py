"""Report of a retrieval evaluation (MIRACL, BEIR): ``metrics.json``, ``report.md``, per-query scores, and a
rich table for the terminal. Per language: the mean over its judged queries (trec_eval ``-c``); across
languages: the macro mean and the median of the per-language means."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from langmix.evaluation.trec import RunScores
from langmix.io import library_versions, write_atomic, write_json

SEMANTICS = (
    "trec_eval -c semantics via pytrec_eval: every judged query counts, queries missing from the run "
    "score 0; grade > 0 is relevant; nDCG gain = grade, log2 discount"
)


def summarize(
    scores: Mapping[str, RunScores],
    *,
    benchmark: str,
    details: Mapping[str, Mapping[str, Any]] | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``metrics.json`` object: per-language means, their macro mean and median, counts and config."""
    if not scores:
        raise ValueError("no languages to summarize")
    metrics = next(iter(scores.values())).metrics
    languages: dict[str, dict[str, Any]] = {}
    for lang, s in scores.items():
        row: dict[str, Any] = dict(s.mean())
        row["n_queries"] = s.n_queries
        row["n_missing_from_run"] = len(s.missing)
        row["n_run_queries_not_judged"] = len(s.ignored)
        row.update((details or {}).get(lang, {}))
        languages[lang] = row
    return {
        "benchmark": benchmark,
        "semantics": SEMANTICS,
        "metrics": list(metrics),
        "languages": languages,
        "mean": {m: statistics.fmean(languages[lang][m] for lang in languages) for m in metrics},
        "median": {m: statistics.median(languages[lang][m] for lang in languages) for m in metrics},
        "n_languages": len(languages),
        "n_queries": sum(row["n_queries"] for row in languages.values()),
        "config": dict(config or {}),
        "versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def render_markdown(summary: Mapping[str, Any]) -> str:
    metrics = summary["metrics"]
    lines = [
        f"# {summary['benchmark']} retrieval evaluation",
        "",
        f"{summary['n_queries']} judged queries, {summary['n_languages']} language(s).",
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
    notes = []
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


def write_retrieval_report(
    out_dir: str | Path, summary: Mapping[str, Any], scores: Mapping[str, RunScores]
) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.md`` and ``per_query.jsonl`` (one line per judged query)."""
    out_dir = Path(out_dir)
    lines = []
    for lang, s in scores.items():
        for qid, values in s.per_query.items():
            lines.append(json.dumps({"lang": lang, "qid": qid, **values}, ensure_ascii=False) + "\n")
    return {
        "per_query": write_atomic(out_dir / "per_query.jsonl", "".join(lines)),
        "report": write_atomic(out_dir / "report.md", render_markdown(summary)),
        "metrics": write_json(out_dir / "metrics.json", summary),
    }
