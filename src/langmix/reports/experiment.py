"""Summary of an experiment grid: paper-style table (mean ± std over seeds), paired tests, plots.

Every number is read back from the runs' own ``metrics.json`` / ``per_query.npz``, so the summary
can be rebuilt at any time and always agrees with the runs.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from langmix.evaluation.significance import (
    SEED_TEST_NAME,
    TEST_NAME,
    paired_test,
    per_query_setting_ap,
    seed_comparison,
)
from langmix.experiments.grid import BASE, ExperimentRunner, RunSpec, grid
from langmix.io import write_atomic, write_json
from langmix.reports.compare import COLUMNS, load_metrics
from langmix.reports.lareqa import headline


def collect(runner: ExperimentRunner) -> dict[str, dict[str, list[tuple[RunSpec, dict, dict]]]]:
    """``dataset -> system -> [(spec, metrics doc, per-query arrays)]`` for every finished run."""
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for spec in grid(runner.config):
        for dataset in runner.config.evaluate:
            folder = runner.eval_dir(spec, dataset)
            if not (folder / "metrics.json").is_file():
                continue
            with np.load(folder / "per_query.npz") as npz:
                per_query = {k: npz[k] for k in npz.files}
            out[dataset][spec.system].append((spec, load_metrics(folder), per_query))
    return out


def system_table(runs: list[tuple[RunSpec, dict, dict]]) -> dict[str, dict[str, float]]:
    values = [headline(doc) for _, doc, _ in runs]
    table = {}
    for key, _ in COLUMNS:
        column = np.array([v[key] for v in values])
        table[key] = {
            "mean": float(column.mean()),
            "std": float(column.std(ddof=1)) if len(column) > 1 else 0.0,
            "n": len(column),
            "values": column.tolist(),
        }
    return table


def _seed_mean(runs, setting: str) -> np.ndarray:
    return np.mean([per_query_setting_ap(pq)[setting] for _, _, pq in runs], axis=0)


def significance(systems: dict[str, list], hybrid: str) -> dict[str, dict[str, dict]]:
    """Hybrid vs the untrained model and mono / cross at its temperature, per setting, seed-averaged AP."""
    out: dict[str, dict[str, dict]] = {}
    temp = hybrid.rsplit("-t", 1)[1]
    for other in sorted(systems):
        if other != BASE and (not other.endswith(f"-t{temp}") or other.startswith("hybrid")):
            continue  # baselines: the untrained model, and mono / cross at the hybrid's temperature
        out[other] = {}
        for setting in ("mo", "cr", "mul"):
            test = paired_test(_seed_mean(systems[other], setting), _seed_mean(systems[hybrid], setting))
            seeds = seed_comparison(
                _seed_scores(systems[other], setting), _seed_scores(systems[hybrid], setting)
            )
            out[other][setting] = {
                "baseline": test.mean_a,
                "hybrid": test.mean_b,
                "delta": test.delta,
                "p_value": test.p_value,
                "queries": test.n,
                "seed_sd": seeds.seed_sd,
                "delta_in_seed_sd": seeds.delta_in_sd,
                "seed_p_value": seeds.p_value,
            }
    return out


def _seed_scores(runs, setting: str) -> np.ndarray:
    """One headline mAP per seed (the unit of the seed-level comparison)."""
    return np.array([headline(doc)[f"{setting}_map"] for _, doc, _ in runs])


def alpha_sweep(systems: dict[str, list]) -> list[dict]:
    """Points (alpha, metric mean/std) of mono (1), cross (0) and every hybrid alpha, per temperature."""
    points = []
    for name, runs in systems.items():
        spec = runs[0][0]
        if spec.strategy == BASE:
            continue
        points.append(
            {
                "system": name,
                "alpha": spec.sweep_alpha(),
                "temperature": spec.temperature,
                **system_table(runs),
            }
        )
    return sorted(points, key=lambda p: (p["temperature"], p["alpha"]))


def _fmt_test(cell: dict) -> str:
    text = f"{cell['delta']:+.4f} (p {cell['p_value']:.2g}"
    if np.isfinite(cell["seed_p_value"]):
        ratio = cell["delta_in_seed_sd"]
        text += f"; {ratio:+.1f} sd, p_seed {cell['seed_p_value']:.2g}" if np.isfinite(ratio) else ""
    return text + ")"


def _fmt(cell: dict, key: str) -> str:
    digits = 1 if key == "rank_distance" else 3
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


def write_summary(runner: ExperimentRunner) -> dict:
    """Write summary.json, summary.md and the plots into the experiment folder; return the summary."""
    config, root = runner.config, Path(runner.config.output_dir)
    found = collect(runner)
    temps = config.temperatures or [config.train.get("temperature", 0.05)]
    summary: dict = {"name": config.name, "test": TEST_NAME, "datasets": {}}
    lines = [
        f"# {config.name}",
        "",
        f"Seeds: {config.seeds}. Two questions per difference, hybrid vs each baseline: is it larger than "
        f"the query sample explains (p: {TEST_NAME} on per-query AP averaged over seeds), and is it "
        f"larger than retraining with another seed moves (Δ in units of the seed std, and p_seed: "
        f"{SEED_TEST_NAME}).",
        "",
    ]
    for dataset, systems in found.items():
        tables = {name: system_table(runs) for name, runs in systems.items()}
        tests = {}
        for temp in temps:
            hybrid = f"hybrid-a{config.alpha:g}-t{temp:g}"
            if hybrid in systems:
                tests[hybrid] = significance(systems, hybrid)
        points = alpha_sweep(systems)
        summary["datasets"][dataset] = {"systems": tables, "significance": tests, "alpha_sweep": points}
        lines += [
            f"## {dataset}",
            "",
            "| system | seeds | " + " | ".join(c for _, c in COLUMNS) + " |",
            "|" + "---|" * (len(COLUMNS) + 2),
        ]
        for name in sorted(tables, key=lambda n: (n != BASE, n)):
            row = tables[name]
            lines.append(
                f"| {name} | {row['mo_map']['n']} | " + " | ".join(_fmt(row[k], k) for k, _ in COLUMNS) + " |"
            )
        for hybrid, against in ((h, a) for h, a in tests.items() if a):
            lines += [
                "",
                f"{hybrid} vs baseline: Δ = hybrid − baseline mAP (p per query; Δ / seed std, p_seed):",
                "",
                "| baseline | Mo. Δ | Cr. Δ | Mul. Δ |",
                "|---|---|---|---|",
            ]
            for other, cells in against.items():
                lines.append(
                    f"| {other} | " + " | ".join(_fmt_test(cells[s]) for s in ("mo", "cr", "mul")) + " |"
                )
        if len(points) > 1:
            write_atomic(
                root / f"alpha_sweep_{dataset}.png", plot_alpha_sweep(points, f"{config.name}: {dataset}")
            )
            lines += ["", f"![alpha sweep](alpha_sweep_{dataset}.png)"]
        shown = [
            n
            for n in (
                BASE,
                *(f"{s}-t{temps[0]:g}" for s in ("mono", "cross")),
                f"hybrid-a{config.alpha:g}-t{temps[0]:g}",
            )
            if n in systems
        ]
        if shown:
            write_atomic(
                root / f"heatmaps_{dataset}.png", plot_heatmaps(systems, shown, f"{config.name}: {dataset}")
            )
            lines += ["", f"![heatmaps](heatmaps_{dataset}.png)", ""]
    write_json(root / "summary.json", summary)
    write_atomic(root / "summary.md", "\n".join(lines) + "\n")
    return summary
