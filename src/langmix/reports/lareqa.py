"""Rendering of a LAReQA run: ``report.md``, the mAP heatmap and the terminal table.

Everything here reads only the metrics document (:mod:`langmix.evaluation.lareqa_run`), so a report can
always be re-made from ``metrics.json`` alone and never disagrees with it.
"""

from __future__ import annotations

import io

import numpy as np
from rich.table import Table

from langmix.evaluation.run_folder import LAREQA_COLUMNS, LAREQA_SETTINGS, ran_on


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def language_rows(doc: dict) -> list[list[str]]:
    """Rows: language, Mo/Cr/Mul mAP, Mul R@1/R@10, rank distance; the macro mean last."""
    s = doc["summary"]
    rows = []
    for lang in [*doc["matrix"]["languages"], "mean"]:
        rows.append(
            [lang]
            + [_fmt(s[key]["map"].get(lang)) for key in LAREQA_SETTINGS]
            + [_fmt(s["mul"]["r@1"].get(lang)), _fmt(s["mul"]["r@10"].get(lang))]
            + [_fmt(s["mul"]["rank_distance"].get(lang), 1)]
        )
    return rows


COLUMNS = ["lang", *(label for _, label in LAREQA_COLUMNS)]


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
        )
        + (f"; encoded at {where}" if (where := ran_on(doc)) else ""),
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


def report_files(doc: dict) -> dict[str, str | bytes]:
    """The files rendered into a LAReQA run folder (a ``Renderer`` for
    :func:`langmix.evaluation.lareqa_run.write_lareqa_run`)."""
    return {"heatmap_map.png": heatmap_png(doc), "report.md": markdown(doc)}
