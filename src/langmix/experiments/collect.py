"""Collect an experiment grid's finished runs and compare its systems: mean ± std over seeds, paired tests
per query and per seed, the alpha sweep. :mod:`langmix.reports.experiment` renders the result.

Every number is read back from the runs' own ``metrics.json`` / ``per_query.npz``, so the summary can be
rebuilt at any time and always agrees with the runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from langmix.evaluation.run_folder import (
    LAREQA_BIAS_COLUMNS,
    LAREQA_COLUMNS,
    LAREQA_GROUP_COLUMNS,
    headline,
    lareqa_bias,
    lareqa_groups,
    load_run,
)
from langmix.evaluation.significance import TEST_NAME, paired_test, per_query_setting_ap, seed_comparison
from langmix.experiments.grid import (
    BASE,
    DEBIASED,
    TATOEBA,
    ExperimentConfig,
    ExperimentRunner,
    RunSpec,
    grid,
)

RunRecord = tuple[RunSpec, dict, dict]  # spec, metrics document, per-query arrays
Found = dict[str, dict[str, list[RunRecord]]]  # dataset -> system -> one record per seed


def collect(runner: ExperimentRunner) -> Found:
    """``dataset -> system -> [(spec, metrics doc, per-query arrays)]`` for every run finished with the
    experiment's current settings; one made with others (``--summary-only`` after an edit) is left out and
    reported, never summarised as if it were current."""
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for spec in grid(runner.config):
        for dataset in runner.config.evaluate:
            folder = runner.eval_dir(spec, dataset)
            if not (folder / "metrics.json").is_file():
                continue
            if not runner.current(spec, dataset):
                runner.log(
                    f"[{spec.name}] {dataset}: made with other settings than the experiment's now; left out "
                    "of the summary (run the experiment to redo it)"
                )
                continue
            with np.load(folder / "per_query.npz") as npz:
                per_query = {k: npz[k] for k in npz.files}
            out[dataset][spec.system].append((spec, load_run(folder), per_query))
    return out


def _seed_stats(values: list[dict[str, float]], columns: tuple[tuple[str, str], ...]) -> dict[str, dict]:
    """Each column over the seeds: mean, std (ddof 1), n and the per-seed values."""
    table = {}
    for key, _ in columns:
        column = np.array([v[key] for v in values])
        table[key] = {
            "mean": float(column.mean()),
            "std": float(column.std(ddof=1)) if len(column) > 1 else 0.0,
            "n": len(column),
            "values": column.tolist(),
        }
    return table


def system_table(runs: list[RunRecord]) -> dict[str, dict[str, Any]]:
    """Each headline column of one system: mean, std (ddof 1), n and the per-seed values."""
    return _seed_stats([headline(doc) for _, doc, _ in runs], LAREQA_COLUMNS)


def bias_table(runs: list[RunRecord]) -> dict[str, dict[str, Any]] | None:
    """The language-bias columns of one system like :func:`system_table`; None if a run predates them."""
    values = [lareqa_bias(doc) for _, doc, _ in runs]
    return None if any(v is None for v in values) else _seed_stats(values, LAREQA_BIAS_COLUMNS)


def group_table(runs: list[RunRecord]) -> dict[str, dict[str, Any]] | None:
    """Seen / unseen query-language means of one system like :func:`system_table` (the columns every seed
    has); None when its model recorded no training languages (the untrained model)."""
    values = [lareqa_groups(doc) for _, doc, _ in runs]
    columns = tuple((k, label) for k, label in LAREQA_GROUP_COLUMNS if all(k in v for v in values))
    return _seed_stats(values, columns) if columns else None


TATOEBA_COLUMNS = (
    ("x2en", "X→en"),
    ("en2x", "en→X"),
    ("xtreme36_x2en", "XTREME-36 X→en"),
    ("seen_x2en", "seen X→en"),
    ("unseen_x2en", "unseen X→en"),
    ("seen_en2x", "seen en→X"),
    ("unseen_en2x", "unseen en→X"),
)


@dataclass(frozen=True)
class Settings:
    """What one kind of evaluation compares: its settings, the per-query scores of a run in a setting
    (paired over queries) and the headline number of a run in a setting (paired over seeds)."""

    names: tuple[str, ...]
    per_query: Callable[[dict, str], np.ndarray]
    score: Callable[[dict, str], float]


def _tatoeba_hits(per_query: dict, direction: str) -> np.ndarray:
    """Every sentence's top-1 hit (0/1) in one direction, all languages in a fixed order."""
    keys = sorted(k for k in per_query if k.endswith(f"_{direction}"))
    return np.concatenate([per_query[k].astype(float) for k in keys])


LAREQA = Settings(
    ("mo", "cr", "mul"),
    lambda pq, s: per_query_setting_ap(pq)[s],
    lambda doc, s: headline(doc)[f"{s}_map"],
)
TATOEBA_SETTINGS = Settings(("x2en", "en2x"), _tatoeba_hits, lambda doc, s: headline(doc)[s])


def _seed_mean(runs: list[RunRecord], setting: str, kind: Settings = LAREQA) -> np.ndarray:
    return np.mean([kind.per_query(pq, setting) for _, _, pq in runs], axis=0)


def _seed_scores(runs: list[RunRecord], setting: str, kind: Settings = LAREQA) -> np.ndarray:
    """One headline number per seed (the unit of the seed-level comparison)."""
    return np.array([kind.score(doc, setting) for _, doc, _ in runs])


def significance(
    systems: dict[str, list[RunRecord]], hybrid: str, kind: Settings = LAREQA
) -> dict[str, dict[str, dict]]:
    """Hybrid vs the untrained model and mono / cross at its settings, per setting: per query (seed-averaged
    scores) and per seed."""
    out: dict[str, dict[str, dict]] = {}
    setting_of = hybrid.rsplit("-t", 1)[1]  # its temperature (and -L<n>): "0.01" or "0.01-L2"
    for other in sorted(systems):
        if other not in (BASE, BASE + DEBIASED) and (
            not other.endswith(f"-t{setting_of}") or other.startswith("hybrid")
        ):
            continue  # baselines: the untrained model (and debiased), mono / cross at the hybrid's settings
        out[other] = {}
        for setting in kind.names:
            test = paired_test(
                _seed_mean(systems[other], setting, kind), _seed_mean(systems[hybrid], setting, kind)
            )
            seeds = seed_comparison(
                _seed_scores(systems[other], setting, kind), _seed_scores(systems[hybrid], setting, kind)
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


def alpha_sweep(systems: dict[str, list[RunRecord]]) -> list[dict]:
    """Points (alpha, metric mean/std) of mono (1), cross (0) and every hybrid alpha, per temperature."""
    points = []
    for name, runs in systems.items():
        spec = runs[0][0]
        if spec.strategy == BASE or spec.is_variant:
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


def tatoeba_block(config: ExperimentConfig, systems: dict[str, list[RunRecord]]) -> dict:
    """A Tatoeba dataset's summary: each system's accuracies (the columns all its seeds have) and the
    hybrid's tests per direction (per sentence, and per seed)."""
    tables = {}
    for name, runs in systems.items():
        values = [headline(doc) for _, doc, _ in runs]
        columns = tuple((k, label) for k, label in TATOEBA_COLUMNS if all(k in v for v in values))
        tables[name] = _seed_stats(values, columns)
    tests = {h: significance(systems, h, TATOEBA_SETTINGS) for h in hybrid_systems(config) if h in systems}
    return {"kind": TATOEBA, "systems": tables, "significance": tests}


def hybrid_systems(config: ExperimentConfig) -> list[str]:
    """The main comparison's hybrid system at each temperature of the grid."""
    counts: list[int | None] = list(config.language_counts) or [None]
    return [
        RunSpec("hybrid", config.alpha, temp, None, n_languages=n).system
        for temp in config.temperature_axis()
        for n in counts
    ]


def summarize(config: ExperimentConfig, found: Found) -> dict:
    """The ``summary.json`` object: per dataset, each system's table (and its bias columns), the hybrid's
    tests, the alpha sweep."""
    summary: dict = {"name": config.name, "test": TEST_NAME, "datasets": {}}
    for dataset, systems in found.items():
        if dataset == TATOEBA:
            summary["datasets"][dataset] = tatoeba_block(config, systems)
            continue
        tables = {name: system_table(runs) for name, runs in systems.items()}
        tests = {h: significance(systems, h) for h in hybrid_systems(config) if h in systems}
        bias = {name: bias_table(runs) for name, runs in systems.items()}
        groups = {name: group_table(runs) for name, runs in systems.items()}
        summary["datasets"][dataset] = {
            "systems": tables,
            "significance": tests,
            "alpha_sweep": alpha_sweep(systems),
            "bias": {name: table for name, table in bias.items() if table is not None},
            "groups": {name: table for name, table in groups.items() if table is not None},
        }
    return summary
