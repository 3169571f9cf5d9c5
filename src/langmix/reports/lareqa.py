"""The LAReQA run folder: ``metrics.json`` (every number), ``report.md``, a heatmap and per-query arrays.

Everything shown (markdown, terminal, compare) is rendered from the metrics document, so a report
can always be re-made from ``metrics.json`` alone and never disagrees with it.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path

import numpy as np
from rich.table import Table

from langmix.data.lareqa import checksum_mismatches
from langmix.evaluation.api import LareqaRun, options_dict
from langmix.evaluation.lareqa import METRICS
from langmix.io import library_versions, write_atomic, write_json

SETTINGS = (("mo", "Mo."), ("cr", "Cr."), ("mul", "Mul."))


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


def metrics_document(run: LareqaRun, model: dict) -> dict:
    res, data = run.result, run.data
    matrix = {"languages": list(res.languages), "count": res.pair_count.tolist()}
    matrix.update({m: res.pair[m].tolist() for m in METRICS})
    doc = {
        "benchmark": data.name,
        "model": {**model, "fingerprint": run.fingerprint},
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "options": options_dict(run.options),
        "data": {
            "n_questions": data.n_questions,
            "n_ids": len(set(data.q_id)),
            "n_candidates": data.n_candidates,
            "files": data.files,
            "checksum_mismatches": checksum_mismatches(data),
            "skipped": [str(s) for s in data.skipped],
        },
        "settings": res.settings_count(),
        "summary": res.summary(),
        "matrix": matrix,
        "encoding": vars(run.encoding),
        "timings": run.timings,
        "versions": library_versions(),
        "tie_breaking": "pessimistic: a relevant candidate ranks below all candidates with an equal score "
        "(sklearn average_precision_score semantics)",
    }
    return _clean(doc)


def headline(doc: dict) -> dict[str, float]:
    """The paper's six headline numbers of one run (Table 1 mAP and Table 2 rank distance)."""
    s = doc["summary"]
    out = {f"{key}_map": s[key]["map"]["mean"] for key, _ in SETTINGS}
    out.update({f"{key}_r@1": s[key]["r@1"]["mean"] for key, _ in SETTINGS})
    out.update({f"{key}_r@10": s[key]["r@10"]["mean"] for key, _ in SETTINGS})
    out["rank_distance"] = s["mul"]["rank_distance"]["mean"]
    return out


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def language_rows(doc: dict) -> list[list[str]]:
    """Rows: language, Mo/Cr/Mul mAP, Mul R@1/R@10, rank distance; the macro mean last."""
    s = doc["summary"]
    rows = []
    for lang in [*doc["matrix"]["languages"], "mean"]:
        rows.append(
            [lang]
            + [_fmt(s[key]["map"].get(lang)) for key, _ in SETTINGS]
            + [_fmt(s["mul"]["r@1"].get(lang)), _fmt(s["mul"]["r@10"].get(lang))]
            + [_fmt(s["mul"]["rank_distance"].get(lang), 1)]
        )
    return rows


COLUMNS = ["lang", "Mo. mAP", "Cr. mAP", "Mul. mAP", "Mul. R@1", "Mul. R@10", "rank dist."]


def markdown(doc: dict) -> str:
    d, s = doc["data"], doc["settings"]
    lines = [
        f"# {doc['benchmark']} — {doc['model']['name']}",
        "",
        f"{d['n_questions']} questions ({d['n_ids']} ids), {d['n_candidates']} candidates; settings: "
        f"{s['mo']} Mo., {s['cr']} Cr., {s['mul']} Mul.; candidate text: {doc['options']['candidate_mode']}"
        + (
            f"; at most {doc['options']['max_questions']} questions per language"
            if doc["options"]["max_questions"]
            else ""
        ),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in language_rows(doc)]
    lines += [
        "",
        "Mo./Cr./Mul. = mAP over the pool of the query's language / each other language (mean over "
        "targets) / all languages; rank dist. = mean highest − lowest rank of a question's relevant "
        "sentences in the pooled setting (lower = less language bias).",
        "",
    ]
    langs = doc["matrix"]["languages"]
    lines += [
        "## mAP, query language (rows) × corpus language (columns)",
        "",
        "| query \\ corpus | " + " | ".join(langs) + " |",
        "|" + "---|" * (len(langs) + 1),
    ]
    for lang, row in zip(langs, doc["matrix"]["map"], strict=True):
        lines.append(f"| {lang} | " + " | ".join(_fmt(v) for v in row) + " |")
    if d["checksum_mismatches"]:
        lines += [
            "",
            f"**Data differs from the official release for: {', '.join(d['checksum_mismatches'])}**",
        ]
    if d["skipped"]:
        lines += ["", f"**{len(d['skipped'])} records skipped:**", ""] + [f"- {s}" for s in d["skipped"]]
    return "\n".join(lines) + "\n"


def console_table(doc: dict) -> Table:
    table = Table(title=f"{doc['benchmark']} · {doc['model']['name']}")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col == "lang" else "right")
    rows = language_rows(doc)
    for row in rows[:-1]:
        table.add_row(*row)
    table.add_row(*rows[-1], style="bold")
    return table


def heatmap_png(doc: dict, metric: str = "map") -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = doc["matrix"]["languages"]
    values = np.array(
        [[np.nan if v is None else v for v in row] for row in doc["matrix"][metric]], dtype=float
    )
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(langs), 0.8 + 0.55 * len(langs)))
    image = ax.imshow(values, cmap="viridis", vmin=np.nanmin(values), vmax=np.nanmax(values))
    ax.set_xticks(range(len(langs)), langs)
    ax.set_yticks(range(len(langs)), langs)
    ax.set_xlabel("corpus language")
    ax.set_ylabel("query language")
    ax.set_title(f"{doc['benchmark']} {metric} · {doc['model']['name']}", fontsize=9)
    mid = np.nanmean(values)
    for i in range(len(langs)):
        for j in range(len(langs)):
            if not np.isnan(values[i, j]):
                color = "white" if values[i, j] < mid else "black"
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def write_run_folder(run: LareqaRun, model: dict, out_dir: str | Path) -> dict:
    """Write metrics.json, report.md, heatmap_map.png and per_query.npz into ``out_dir``; return the doc."""
    out = Path(out_dir)
    doc = metrics_document(run, model)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **run.result.per_query)
    write_atomic(out / "per_query.npz", buffer.getvalue())
    write_atomic(out / "heatmap_map.png", heatmap_png(doc))
    write_atomic(out / "report.md", markdown(doc))
    write_json(out / "metrics.json", doc)  # last: its presence marks a finished run
    return doc
