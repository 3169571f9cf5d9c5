"""Side-by-side view of several runs of one benchmark, each relative to the first (the baseline).

Dispatches on the run folders' common header (:mod:`langmix.evaluation.run_folder`): LAReQA runs show the
paper's headline columns (and, when every run has them, a second table of language-bias numbers), MIRACL /
BEIR runs the macro mean of each metric, Tatoeba runs their mean accuracies. Runs of different kinds or
benchmarks are refused with one line: their numbers do not measure the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table

from langmix.errors import LangmixError
from langmix.evaluation.run_folder import LAREQA_BIAS_COLUMNS, LAREQA_COLUMNS, lareqa_bias, load_run

# the headline columns of every LAReQA comparison (compare, experiment summaries)
COLUMNS = LAREQA_COLUMNS
# the bias columns shown beside them; higher own-language share, ratio and Max@R = more bias
BIAS_COLUMNS = LAREQA_BIAS_COLUMNS
_MORE_IS_WORSE = ("own@10", "own@10_ratio", "max_rank")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    digits: int = 3
    lower_is_better: bool = False


def _check_alike(runs: Sequence[str | Path], docs: list[dict]) -> None:
    for field, what in (("kind", "kinds"), ("benchmark", "benchmarks")):
        values = {d[field] for d in docs}
        if len(values) > 1:
            shown = ", ".join(f"{Path(r).name}: {d[field]}" for r, d in zip(runs, docs, strict=True))
            raise LangmixError(f"runs are of different {what} ({shown}); compare like with like")


# Tatoeba headline keys -> column labels (any prefix: xtreme36_, seen_, unseen_)
_TATOEBA_LABELS = {
    "x2en": "X→en",
    "en2x": "en→X",
    "xtreme36": "XTREME-36",
    "seen": "seen",
    "unseen": "unseen",
}


def _shared_keys(docs: list[dict]) -> list[str]:
    return [k for k in docs[0]["headline"] if all(k in d["headline"] for d in docs[1:])]


def _tatoeba_label(key: str) -> str:
    group, _, direction = key.rpartition("_")
    return " ".join(_TATOEBA_LABELS[part] for part in (group, direction) if part)


def columns(docs: list[dict]) -> list[Column]:
    """LAReQA: the paper's six headline columns; retrieval: every metric of the baseline run; Tatoeba: the
    accuracy means every run has (XTREME-36 only when each run evaluated all 36, seen/unseen when each knew
    its training languages)."""
    if docs[0]["kind"] == "lareqa":
        return [
            Column(k, label, 1 if k == "rank_distance" else 3, k == "rank_distance") for k, label in COLUMNS
        ]
    if docs[0]["kind"] == "tatoeba":
        return [Column(k, _tatoeba_label(k), 3) for k in _shared_keys(docs)]
    keys = list(docs[0]["headline"])
    for doc in docs[1:]:
        missing = [k for k in keys if k not in doc["headline"]]
        if missing:
            raise LangmixError(
                f"a run has no {', '.join(missing)}: score every run with the same --metrics to compare"
            )
    return [Column(k, k, 4) for k in keys]


def bias_columns() -> list[Column]:
    return [
        Column(k, label, 1 if k == "max_rank" else 2 if k.endswith("ratio") else 3, k in _MORE_IS_WORSE)
        for k, label in BIAS_COLUMNS
    ]


def _with_deltas(values: list[dict[str, float]]) -> list[dict[str, float]]:
    base = values[0]
    rows = []
    for value in values:
        row = {k: value[k] for k in base}
        row.update({f"delta_{k}": row[k] - base[k] for k in base})
        rows.append(row)
    return rows


def compare_rows(docs: list[dict]) -> list[dict[str, float]]:
    """Headline numbers per run plus ``delta_<key>`` relative to the first run."""
    keys = _shared_keys(docs)
    return _with_deltas([{k: doc["headline"][k] for k in keys} for doc in docs])


def bias_rows(docs: list[dict]) -> list[dict[str, float]] | None:
    """LAReQA bias numbers per run plus deltas against the first; None unless every run has them."""
    values = [lareqa_bias(doc) if doc["kind"] == "lareqa" else None for doc in docs]
    return None if any(v is None for v in values) else _with_deltas(values)


def _cell(row: dict[str, float], column: Column, baseline: bool) -> str:
    cell = f"{row[column.key]:.{column.digits}f}"
    if not baseline:
        delta = row[f"delta_{column.key}"]
        better = delta < 0 if column.lower_is_better else delta > 0
        color = "green" if better else "red" if delta else "white"
        cell += f" [{color}]({delta:+.{column.digits}f})[/]"
    return cell


def _model_cell(doc: dict, docs: list[dict]) -> str:
    """The model's name, and its precision when the runs differ in it (a bf16 run told from an fp32 one);
    a precision all runs share goes into the title instead."""
    precisions = {d["model"].get("precision") for d in docs}
    precision = doc["model"].get("precision")
    return doc["model"]["name"] + (f" ({precision})" if len(precisions) > 1 and precision else "")


def _shared_precision(docs: list[dict]) -> str:
    precisions = {d["model"].get("precision") for d in docs}
    return f" (all at {precisions.pop()})" if len(precisions) == 1 and None not in precisions else ""


def _table(
    title: str, runs: Sequence[str | Path], docs: list[dict], shown: list[Column], rows: list
) -> Table:
    table = Table(title=title + _shared_precision(docs))
    table.add_column("run")
    table.add_column("model")
    for column in shown:
        table.add_column(column.label, justify="right")
    for i, (run, doc, row) in enumerate(zip(runs, docs, rows, strict=True)):
        table.add_row(Path(run).name, _model_cell(doc, docs), *(_cell(row, c, i == 0) for c in shown))
    return table


def compare_table(runs: Sequence[str | Path]) -> RenderableType:
    """A rich table of ``runs`` (run folders or metrics.json files), deltas against the first; LAReQA runs
    that all have bias metrics get a second table of them (Mul. setting, macro means)."""
    docs = [load_run(r) for r in runs]
    _check_alike(runs, docs)
    base = Path(runs[0]).name
    table = _table(
        f"{docs[0]['benchmark']}: runs compared with {base}", runs, docs, columns(docs), compare_rows(docs)
    )
    bias = bias_rows(docs)
    if bias is None:
        return table
    title = f"{docs[0]['benchmark']}: language bias (Mul.), compared with {base}"
    return Group(table, _table(title, runs, docs, bias_columns(), bias))
