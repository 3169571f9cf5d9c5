"""Rendering of a Tatoeba run: ``report.md`` (grouped and per-language tables), the plot of accuracy by
resource class, and the terminal table.

Everything here reads only the metrics document (:mod:`langmix.evaluation.tatoeba`): the means and the
groups were computed there, so a report can be re-made from ``metrics.json`` alone and never disagrees
with it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from rich.table import Table

from langmix.data.languages import RESOURCE_CLASS_NAMES
from langmix.evaluation.run_folder import ran_on

PLOT = "accuracy_by_class.png"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def group_label(name: str, group: Mapping[str, Any]) -> str:
    """``"XTREME-36"``, ``"class 3 (rising stars)"``, ``"unknown class"``: a group's name for tables."""
    if name == "all":
        return "all evaluated"
    if name == "xtreme36":
        return "XTREME-36" + ("" if group.get("complete") else " (partial)")
    if name.startswith("class "):
        return f"{name} ({RESOURCE_CLASS_NAMES[int(name.split()[1])]})"
    if name == "unknown":
        return "class unknown (0–1 / unlisted)"
    return name


def group_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    """Rows: group, languages, X→en, en→X; in the document's order (all, XTREME-36, classes, seen)."""
    return [
        [group_label(name, g), str(g["n_languages"]), _fmt(g["x2en"]), _fmt(g["en2x"])]
        for name, g in doc["groups"].items()
    ]


def _flag(value: bool | None) -> str:
    return "" if value is None else "yes" if value else "no"


def language_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    """Rows: language, sentences, class, XTREME-36, seen, X→en, en→X."""
    return [
        [
            row["lang"],
            str(row["n"]),
            "?" if row["resource_class"] is None else str(row["resource_class"]),
            _flag(row["xtreme36"]),
            _flag(row["seen"]),
            _fmt(row["x2en"]),
            _fmt(row["en2x"]),
        ]
        for row in doc["languages"]
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def markdown(doc: Mapping[str, Any]) -> str:
    d, opts = doc["data"], doc["options"]
    facts = [
        f"{d['n_languages']} languages, {d['n_pairs']} sentence pairs",
        f"both sides encoded with the model's `{opts['prompt']}` prompt",
    ]
    if opts.get("max_per_language"):
        facts.append(f"first {opts['max_per_language']} lines per language")
    if where := ran_on(doc):
        facts.append(f"encoded at {where}")
    lines = [
        f"# Tatoeba — {doc['model']['name']}",
        "",
        "; ".join(facts) + ".",
        "",
        "X→en: each sentence in language X retrieves its English translation among the set's English "
        "sentences; en→X the reverse. Top-1 accuracy, macro means over languages. Ties: "
        f"{doc['tie_breaking']}.",
        "",
        "## Means",
        "",
        *_table(["group", "languages", "X→en", "en→X"], group_rows(doc)),
        "",
        f"![accuracy by resource class]({PLOT})",
        "",
        f"Resource classes: {doc['resource_classes']['source']}."
        + (
            f" {len(unknown)} of the evaluated languages have no declared class (class 0 or 1, or not "
            f"named in the list): {', '.join(unknown)}."
            if (unknown := doc["resource_classes"]["unknown"])
            else ""
        ),
    ]
    if doc.get("seen_languages") is not None:
        seen = ", ".join(doc["seen_languages"]) or "none"
        lines += ["", f"Seen in training (Tatoeba codes): {seen}."]
        if doc.get("seen_without_set"):
            lines.append(f"Training languages without a Tatoeba set: {', '.join(doc['seen_without_set'])}.")
    header = ["lang", "sentences", "class", "XTREME-36", "seen", "X→en", "en→X"]
    lines += ["", "## Per language", "", *_table(header, language_rows(doc))]
    return "\n".join(lines) + "\n"


def class_plot_png(doc: Mapping[str, Any]) -> bytes:
    """Mean X→en and en→X accuracy per resource class (bars), each language's X→en as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in doc["groups"] if n.startswith("class ") or n == "unknown"]
    groups = [doc["groups"][n] for n in names]
    by_lang = {row["lang"]: row for row in doc["languages"]}
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 + 1.3 * len(names)), 4.2))
    width = 0.38
    for offset, direction, label in ((-width / 2, "x2en", "X→en"), (width / 2, "en2x", "en→X")):
        xs = [i + offset for i in range(len(names))]
        ax.bar(xs, [g[direction] for g in groups], width, label=f"{label} (mean)", alpha=0.75)
    for i, g in enumerate(groups):
        values = [by_lang[lang]["x2en"] for lang in g["languages"]]
        label = "X→en per language" if i == 0 else None
        ax.scatter([i - width / 2] * len(values), values, s=9, color="black", zorder=3, label=label)
    ticks = [
        f"{n.replace('unknown', '? (0–1)')}\n{g['n_languages']} lang."
        for n, g in zip(names, groups, strict=True)
    ]
    ax.set_xticks(range(len(names)), ticks, fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(f"Tatoeba by resource class (Joshi et al. 2020)\n{doc['model']['name']}", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def console_table(doc: Mapping[str, Any]) -> Table:
    """The terminal summary: the means of every group (the per-language table is in report.md)."""
    table = Table(title=f"tatoeba · {doc['model']['name']}", caption="per language: report.md")
    for col in ("group", "languages", "X→en", "en→X"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for i, row in enumerate(group_rows(doc)):
        table.add_row(*row, style="bold" if i == 0 else None)
    return table


def report_files(doc: dict) -> dict[str, str | bytes]:
    """The files rendered into a Tatoeba run folder (a ``Renderer`` for
    :func:`langmix.evaluation.tatoeba.write_tatoeba_run`)."""
    return {"report.md": markdown(doc), PLOT: class_plot_png(doc)}
