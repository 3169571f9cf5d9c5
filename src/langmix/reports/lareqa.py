"""Rendering of a LAReQA run: ``report.md``, the mAP and preference heatmaps and the terminal table.

Everything here reads only the metrics document (:mod:`langmix.evaluation.lareqa_run`), so a report can
always be re-made from ``metrics.json`` alone and never disagrees with it.
"""

from __future__ import annotations

import io

import numpy as np
from rich.table import Table

from langmix.data.languages import resource_group, tatoeba_code
from langmix.evaluation.run_folder import LAREQA_COLUMNS, LAREQA_SETTINGS, ran_on


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _columns(doc: dict) -> list[tuple[dict, int]]:
    """The table's columns after ``lang``: (per-language values with their ``mean``, digits)."""
    s = doc["summary"]
    mul = s["mul"]
    return [(s[key]["map"], 3) for key in LAREQA_SETTINGS] + [
        (mul["r@1"], 3),
        (mul["r@10"], 3),
        (mul["rank_distance"], 1),
    ]


def language_rows(doc: dict) -> list[list[str]]:
    """Rows: language, Mo/Cr/Mul mAP, Mul R@1/R@10, rank distance; the macro mean last."""
    columns = _columns(doc)
    return [
        [lang, *(_fmt(values.get(lang), digits) for values, digits in columns)]
        for lang in [*doc["matrix"]["languages"], "mean"]
    ]


def language_groups(doc: dict) -> dict[str, list[str]]:
    """Query-language groups: ``seen`` / ``unseen`` in training when the model's run recorded its training
    languages (``model.training_languages``), and the resource classes declared in
    :mod:`langmix.data.languages` (Joshi et al. 2020) when the languages span more than one."""
    langs = doc["matrix"]["languages"]
    groups: dict[str, list[str]] = {}
    trained = doc["model"].get("training_languages")
    if trained is not None:
        codes = {tatoeba_code(lang) for lang in trained}
        groups["seen"] = [x for x in langs if tatoeba_code(x) in codes]
        groups["unseen"] = [x for x in langs if tatoeba_code(x) not in codes]
    classes: dict[str, list[str]] = {}
    for lang in langs:
        classes.setdefault(resource_group(lang), []).append(lang)
    if len(classes) > 1:  # "class 5" ... "class 0", then "unknown"
        order = [f"class {c}" for c in range(5, -1, -1)] + ["unknown"]
        groups.update((name, classes[name]) for name in order if name in classes)
    return {name: members for name, members in groups.items() if members}


def group_rows(doc: dict) -> list[list[str]]:
    """Rows ``mean seen (ar, de, ...)``: each column's mean over a group's languages (the same macro
    mean as the ``mean`` row, over fewer languages)."""
    rows = []
    for name, members in language_groups(doc).items():
        cells = []
        for values, digits in _columns(doc):
            present = [values[x] for x in members if values.get(x) is not None]
            cells.append(_fmt(float(np.mean(present)) if present else None, digits))
        rows.append([f"mean {name} ({', '.join(members)})", *cells])
    return rows


COLUMNS = ["lang", *(label for _, label in LAREQA_COLUMNS)]

# report.md's bias table: key in metrics.json "bias", label, digits
BIAS_COLUMNS = (
    ("unbiased_share", "unbiased share", 3),
    ("own@1", "own@1", 3),
    ("own@1_ratio", "own@1 ÷ unbiased", 2),
    ("own@10", "own@10", 3),
    ("own@10_ratio", "own@10 ÷ unbiased", 2),
    ("max_rank", "Max@R mean", 1),
    ("max_rank_median", "Max@R median", 1),
    ("complete@10", "C@10", 3),
    ("complete@20", "C@20", 3),
    ("complete@100", "C@100", 3),
)


def bias_lines(doc: dict) -> list[str]:
    """report.md's language-bias section (none for runs written before the bias metrics)."""
    bias = doc.get("bias")
    if not bias:
        return []
    lines = [
        "## Language bias (Mul. setting)",
        "",
        "| lang | " + " | ".join(label for _, label, _ in BIAS_COLUMNS) + " |",
        "|" + "---|" * (len(BIAS_COLUMNS) + 1),
    ]
    for lang in [*doc["matrix"]["languages"], "mean"]:
        cells = [_fmt(bias[key].get(lang), digits) for key, _, digits in BIAS_COLUMNS]
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "own@k = share of the top k in the query's language; unbiased share = share of the pool in that "
        "language (what a ranker blind to language gives); Max@R = pooled rank of the last relevant "
        "sentence; C@k = share of questions with every relevant sentence in the top k. Per language, then "
        "macro mean (Max@R median: per-language medians, then their mean). Definitions: docs/evaluation.md.",
        "",
    ]
    pref = bias["preference"]
    langs = pref["languages"]
    lines += [
        f"## Preference: share of X questions whose Y answer ranks above their X answer (0.5 = none; "
        f"mean off the diagonal {_fmt(pref['mean'])})",
        "",
        "| query X \\ answer Y | " + " | ".join(langs) + " |",
        "|" + "---|" * (len(langs) + 1),
    ]
    for lang, row in zip(langs, pref["share"], strict=True):
        lines.append(f"| {lang} | " + " | ".join(_fmt(v, 2) for v in row) + " |")
    return [*lines, "", "![preference](heatmap_preference.png)", ""]


def bias_caption(doc: dict) -> str | None:
    """The terminal's one-line bias summary (macro means), or None for runs without bias metrics."""
    bias = doc.get("bias")
    if not bias:
        return None
    own = bias["own@10"]["mean"]
    return (
        f"bias (Mul.): own@10 {own:.3f} ({bias['own@10_ratio']['mean']:.2f}× unbiased) · "
        f"Max@R {bias['max_rank']['mean']:.1f} (median {bias['max_rank_median']['mean']:.1f}) · "
        f"C@10/20/100 {bias['complete@10']['mean']:.3f}/{bias['complete@20']['mean']:.3f}/"
        f"{bias['complete@100']['mean']:.3f} · Y-above-X {bias['preference']['mean']:.3f}"
    )


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
    lines += ["| " + " | ".join(row) + " |" for row in language_rows(doc) + group_rows(doc)]
    lines += [
        "",
        "Mo./Cr./Mul. = mAP over the pool of the query's language / each other language (mean over "
        "targets) / all languages; rank dist. = mean highest − lowest rank of a question's relevant "
        "sentences in the pooled setting (lower = less language bias).",
        "",
    ]
    if language_groups(doc):
        lines += [
            "Group rows: the same means over the query languages seen / unseen in the model's training run "
            "and over each resource class of Joshi et al. 2020 (declared in langmix.data.languages).",
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
    if doc.get("bias"):
        lines += ["", *bias_lines(doc)[:-1]]
    if d["checksum_mismatches"]:
        lines += [
            "",
            f"**Data differs from the official release for: {', '.join(d['checksum_mismatches'])}**",
        ]
    if d["skipped"]:
        lines += ["", f"**{len(d['skipped'])} records skipped:**", ""] + [f"- {s}" for s in d["skipped"]]
    return "\n".join(lines) + "\n"


def console_table(doc: dict) -> Table:
    table = Table(title=f"{doc['benchmark']} · {doc['model']['name']}", caption=bias_caption(doc))
    for col in COLUMNS:
        table.add_column(col, justify="left" if col == "lang" else "right")
    rows = language_rows(doc)
    for row in rows[:-1]:
        table.add_row(*row)
    table.add_row(*rows[-1], style="bold")
    for row in group_rows(doc):
        table.add_row(*row, style="dim")
    return table


def _heatmap(
    values: np.ndarray,
    langs: list[str],
    title: str,
    labels: tuple[str, str],
    style: dict,
    centre: float | None = None,
) -> bytes:
    """A language × language matrix as a PNG, each cell annotated (NaN cells left blank); ``centre``:
    the middle of a diverging colour map (dark cells far from it get white text)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(langs), 0.8 + 0.55 * len(langs)))
    image = ax.imshow(values, **style)
    ax.set_xticks(range(len(langs)), langs)
    ax.set_yticks(range(len(langs)), langs)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title, fontsize=9)
    mid = np.nanmean(values)
    for i in range(len(langs)):
        for j in range(len(langs)):
            if not np.isnan(values[i, j]):
                dark = values[i, j] < mid if centre is None else abs(values[i, j] - centre) > 0.3
                color = "white" if dark else "black"
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def _matrix(rows: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def heatmap_png(doc: dict, metric: str = "map") -> bytes:
    """``metric`` per query language × corpus language."""
    values = _matrix(doc["matrix"][metric])
    return _heatmap(
        values,
        doc["matrix"]["languages"],
        f"{doc['benchmark']} {metric} · {doc['model']['name']}",
        ("corpus language", "query language"),
        {"cmap": "viridis", "vmin": np.nanmin(values), "vmax": np.nanmax(values)},
    )


def preference_png(doc: dict) -> bytes:
    """The pairwise preference matrix: 0.5 (white) = no preference; red = the query's own language wins."""
    pref = doc["bias"]["preference"]
    return _heatmap(
        _matrix(pref["share"]),
        pref["languages"],
        f"{doc['benchmark']}: share of Y answers above the X answer\n{doc['model']['name']}",
        ("answer language Y", "query language X"),
        {"cmap": "RdBu", "vmin": 0.0, "vmax": 1.0},
        centre=0.5,
    )


def report_files(doc: dict) -> dict[str, str | bytes]:
    """The files rendered into a LAReQA run folder (a ``Renderer`` for
    :func:`langmix.evaluation.lareqa_run.write_lareqa_run`)."""
    files = {"heatmap_map.png": heatmap_png(doc), "report.md": markdown(doc)}
    if doc.get("bias"):
        files["heatmap_preference.png"] = preference_png(doc)
    return files
