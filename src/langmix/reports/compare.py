"""Side-by-side view of several runs of one benchmark, each relative to the first (the baseline).

Dispatches on the run folders' common header (:mod:`langmix.evaluation.run_folder`): LAReQA runs show the
paper's headline columns (and, when every run has them, a second table of language-bias numbers), MIRACL /
BEIR runs the macro mean of each metric. Runs of different kinds or benchmarks are refused with one line:
their numbers do not measure the same thing.
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


def columns(docs: list[dict]) -> list[Column]:
    """LAReQA: the paper's six headline columns; retrieval: every metric of the baseline run."""
    if docs[0]["kind"] == "lareqa":
        return [
            Column(k, label, 1 if k == "rank_distance" else 3, k == "rank_distance") for k, label in COLUMNS
        ]
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
    return _with_deltas([doc["headline"] for doc in docs])


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


def _model_cell(doc: dict) -> str:
    """The model's name, and its precision when not fp32 (so a bf16 run is told from the fp32 one)."""
    precision = doc["model"].get("precision")
    return doc["model"]["name"] + (f" ({precision})" if precision and precision != "fp32" else "")


def _table(
    title: str, runs: Sequence[str | Path], docs: list[dict], shown: list[Column], rows: list
) -> Table:
    table = Table(title=title)
    table.add_column("run")
    table.add_column("model")
    for column in shown:
        table.add_column(column.label, justify="right")
    for i, (run, doc, row) in enumerate(zip(runs, docs, rows, strict=True)):
        table.add_row(Path(run).name, _model_cell(doc), *(_cell(row, c, i == 0) for c in shown))
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
