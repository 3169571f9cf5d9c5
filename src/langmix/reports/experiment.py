"""Rendering of an experiment grid's summary: ``summary.md`` (paper-style table with the language-bias
columns beside rank distance, mean ± std over seeds, and the hybrid's tests), the alpha-sweep, heatmap and
bias-vs-quality plots, and the terminal tables.

The numbers come from :func:`langmix.experiments.collect.summarize`, itself read back from the runs'
own ``metrics.json`` / ``per_query.npz``: the summary can be rebuilt at any time.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from langmix.evaluation.run_folder import LAREQA_GROUP_COLUMNS as GROUP_COLUMNS
from langmix.evaluation.significance import SEED_TEST_NAME, TEST_NAME
from langmix.experiments.collect import TATOEBA_COLUMNS, Found, collect, summarize
from langmix.experiments.grid import BASE, TATOEBA, ExperimentConfig, ExperimentRunner, RunSpec
from langmix.io import write_atomic, write_json
from langmix.reports.compare import BIAS_COLUMNS, COLUMNS


def _fmt_test(cell: dict) -> str:
    text = f"{cell['delta']:+.4f} (p {cell['p_value']:.2g}"
    if np.isfinite(cell["seed_p_value"]):
        ratio = cell["delta_in_seed_sd"]
        text += f"; {ratio:+.1f} sd, p_seed {cell['seed_p_value']:.2g}" if np.isfinite(ratio) else ""
    return text + ")"


def _fmt(cell: dict | None, key: str) -> str:
    if cell is None:
        return "–"
    digits = 1 if key.endswith(("rank_distance", "max_rank")) else 2 if key.endswith("ratio") else 3
    return (
        f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"
        if cell["n"] > 1
        else f"{cell['mean']:.{digits}f}"
    )


def plot_alpha_sweep(points: list[dict], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for temp in sorted({p["temperature"] for p in points}):
        series = [p for p in points if p["temperature"] == temp]
        xs = [p["alpha"] for p in series]
        for key, label in COLUMNS[:3]:
            left.errorbar(
                xs,
                [p[key]["mean"] for p in series],
                yerr=[p[key]["std"] for p in series],
                marker="o",
                capsize=3,
                label=f"{label} (T={temp:g})",
            )
        right.errorbar(
            xs,
            [p["rank_distance"]["mean"] for p in series],
            yerr=[p["rank_distance"]["std"] for p in series],
            marker="o",
            capsize=3,
            label=f"T={temp:g}",
        )
    left.set(xlabel="α (share of monolingual batches; 0 = X-Y, 1 = X-X-mono)", ylabel="mAP", title=title)
    right.set(xlabel="α", ylabel="mean rank distance (lower = less bias)", title="language bias")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def plot_heatmaps(systems: dict[str, list], names: list[str], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mats = {
        n: np.mean([np.array(doc["matrix"]["map"], dtype=float) for _, doc, _ in systems[n]], axis=0)
        for n in names
    }
    langs = systems[names[0]][0][1]["matrix"]["languages"]
    lo, hi = min(np.nanmin(m) for m in mats.values()), max(np.nanmax(m) for m in mats.values())
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        image = ax.imshow(mats[name], cmap="viridis", vmin=lo, vmax=hi)
        ax.set_xticks(range(len(langs)), langs, fontsize=7)
        ax.set_yticks(range(len(langs)), langs, fontsize=7)
        ax.set_title(f"{name}\nmean mAP {np.nanmean(mats[name]):.3f}", fontsize=8)
        ax.set_xlabel("corpus language", fontsize=7)
    axes[0][0].set_ylabel("query language", fontsize=7)
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.02)
    fig.suptitle(title, fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def plot_bias_quality(block: dict, title: str) -> bytes:
    """Each system's Mul. mAP against its rank distance (and own-language top-10 share), ± seed std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems, bias = block["systems"], block.get("bias") or {}
    panels = [("rank_distance", systems, "mean rank distance (lower = less bias)")]
    if bias:
        panels.append(("own@10", bias, "own-language share of the top 10 (lower = less bias)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (key, source, xlabel) in zip(axes[0], panels, strict=True):
        for name in sorted(source, key=lambda n: (n != BASE, n)):
            x, y = source[name][key], systems[name]["mul_map"]
            ax.errorbar(x["mean"], y["mean"], xerr=x["std"], yerr=y["std"], marker="o", capsize=3)
            ax.annotate(name, (x["mean"], y["mean"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set(xlabel=xlabel, ylabel="Mul. mAP", title=title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _columns(block: dict) -> list[tuple[str, str, str]]:
    """(source, key, label) of the summary's columns: the headline, then the bias ones if any run has them;
    a Tatoeba block's accuracy columns (those some system has)."""
    if block.get("kind") == TATOEBA:
        tables = block["systems"].values()
        return [("systems", k, label) for k, label in TATOEBA_COLUMNS if any(k in t for t in tables)]
    shown = [("systems", k, label) for k, label in COLUMNS]
    return shown + ([("bias", k, label) for k, label in BIAS_COLUMNS] if block.get("bias") else [])


def _cells(block: dict, name: str) -> list[str]:
    return [_fmt(block[source].get(name, {}).get(key), key) for source, key, _ in _columns(block)]


def _table_lines(dataset: str, block: dict) -> list[str]:
    tables, shown = block["systems"], _columns(block)
    lines = [
        f"## {dataset}",
        "",
        "| system | seeds | " + " | ".join(label for _, _, label in shown) + " |",
        "|" + "---|" * (len(shown) + 2),
    ]
    for name in sorted(tables, key=lambda n: (n != BASE, n)):
        seeds = next(iter(tables[name].values()))["n"]
        lines.append(f"| {name} | {seeds} | " + " | ".join(_cells(block, name)) + " |")
    tatoeba = block.get("kind") == TATOEBA
    settings = ("x2en", "en2x") if tatoeba else ("mo", "cr", "mul")
    what = "accuracy (p per sentence" if tatoeba else "mAP (p per query"
    for hybrid, against in ((h, a) for h, a in block["significance"].items() if a):
        lines += [
            "",
            f"{hybrid} vs baseline: Δ = hybrid − baseline {what}; Δ / seed std, p_seed):",
            "",
            "| baseline | " + " | ".join(f"{_SETTING_LABELS[s]} Δ" for s in settings) + " |",
            "|" + "---|" * (len(settings) + 1),
        ]
        for other, cells in against.items():
            lines.append(f"| {other} | " + " | ".join(_fmt_test(cells[s]) for s in settings) + " |")
    return lines


_SETTING_LABELS = {"mo": "Mo.", "cr": "Cr.", "mul": "Mul.", "x2en": "X→en", "en2x": "en→X"}


def _group_lines(block: dict) -> list[str]:
    """The seen / unseen table: each trained system's means over the query languages it was (not) trained
    on; none when no system recorded its training languages."""
    groups = block.get("groups") or {}
    if not groups:
        return []
    shown = [(k, label) for k, label in GROUP_COLUMNS if any(k in t for t in groups.values())]
    lines = [
        "",
        "Query languages seen / unseen in training (each system's mean over those languages):",
        "",
        "| system | " + " | ".join(label for _, label in shown) + " |",
        "|" + "---|" * (len(shown) + 1),
    ]
    for name in sorted(groups):
        lines.append(f"| {name} | " + " | ".join(_fmt(groups[name].get(k), k) for k, _ in shown) + " |")
    return lines


def _plots(config: ExperimentConfig, dataset: str, systems: dict, block: dict) -> list[str]:
    """Write the dataset's plots into the experiment folder; return the markdown lines showing them."""
    root, lines, points = Path(config.output_dir), [], block["alpha_sweep"]
    if len(block["systems"]) > 1:
        write_atomic(
            root / f"bias_quality_{dataset}.png", plot_bias_quality(block, f"{config.name}: {dataset}")
        )
        lines += ["", f"![bias vs quality](bias_quality_{dataset}.png)"]
    if len(points) > 1:
        write_atomic(
            root / f"alpha_sweep_{dataset}.png", plot_alpha_sweep(points, f"{config.name}: {dataset}")
        )
        lines += ["", f"![alpha sweep](alpha_sweep_{dataset}.png)"]
    temp = config.temperature_axis()[0]
    candidates = [
        BASE,
        *(RunSpec(s, None, temp, None).system for s in ("mono", "cross")),
        RunSpec("hybrid", config.alpha, temp, None).system,
    ]
    shown = [n for n in candidates if n in systems]
    if shown:
        write_atomic(
            root / f"heatmaps_{dataset}.png", plot_heatmaps(systems, shown, f"{config.name}: {dataset}")
        )
        lines += ["", f"![heatmaps](heatmaps_{dataset}.png)", ""]
    return lines


def markdown(config: ExperimentConfig, summary: dict, found: Found) -> str:
    """``summary.md``; writes the plots it shows next to it."""
    lines = [
        f"# {config.name}",
        "",
        f"Seeds: {config.seeds}. Two questions per difference, hybrid vs each baseline: is it larger than "
        f"the query sample explains (p: {TEST_NAME} on per-query AP averaged over seeds), and is it "
        f"larger than retraining with another seed moves (Δ in units of the seed std, and p_seed: "
        f"{SEED_TEST_NAME}).",
        "",
    ]
    for dataset, block in summary["datasets"].items():
        lines += _table_lines(dataset, block)
        if block.get("kind") == TATOEBA:
            lines.append("")
            continue
        lines += _group_lines(block)
        lines += _plots(config, dataset, found[dataset], block)
    return "\n".join(lines) + "\n"


def write_summary(runner: ExperimentRunner) -> dict:
    """Write summary.json, summary.md and the plots into the experiment folder; return the summary."""
    root = Path(runner.config.output_dir)
    found = collect(runner)
    summary = summarize(runner.config, found)
    text = markdown(runner.config, summary, found)
    write_json(root / "summary.json", summary)
    write_atomic(root / "summary.md", text)
    return summary


def print_summary(summary: dict, out: Console | None = None) -> None:
    """The summary's tables and the hybrid's tests on the terminal."""
    out = out or Console()
    for dataset, block in summary["datasets"].items():
        columns = _columns(block)
        # quality and bias as two tables: together they do not fit a terminal and every number gets cut
        for source, title in (("systems", "mean ± std over seeds"), ("bias", "language bias, mean ± std")):
            shown = [(i, label) for i, (src, _, label) in enumerate(columns) if src == source]
            if not shown:
                continue
            table = Table(title=f"{summary['name']} · {dataset} ({title})")
            table.add_column("system", no_wrap=True)
            for _, label in shown:
                table.add_column(label, justify="right")
            for name in sorted(block["systems"], key=lambda n: (n != BASE, n)):
                cells = _cells(block, name)
                table.add_row(name, *(cells[i] for i, _ in shown))
            out.print(table)
        for hybrid, against in block["significance"].items():
            for other, cells in against.items():
                parts = ", ".join(f"{s} {c['delta']:+.4f} (p={c['p_value']:.3g})" for s, c in cells.items())
                out.print(f"{hybrid} vs {other}: {parts}")
