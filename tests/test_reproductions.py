"""Published numbers that re-check themselves (pyserini's "2CR"), from ``reproductions.yaml``.

Three checks per entry:
- the docs: every table cell an entry declares is in README.md / docs/*.md exactly as declared, every row
  of a declared table is accounted for, and the entry's command is written beside it;
- cheap entries: the command runs (a ``langmix`` subprocess in a fresh cache) and its output files hold
  the ``expected`` values within the entry's tolerance;
- expensive entries (hours on CPU): the same replay, plus each published cell recomputed from the output,
  only under ``pytest -m reproduction``.

A published number passes when it equals the run's value rounded to the digits printed (± ``tolerance``).
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CATALOGUE: dict[str, Any] = yaml.safe_load((REPO / "reproductions.yaml").read_text(encoding="utf-8"))
TABLES: dict[str, dict[str, Any]] = CATALOGUE["tables"]
ENTRIES: list[dict[str, Any]] = CATALOGUE["reproductions"]
NUMBER = re.compile(r"[−+-]?\d[\d,]*(?:\.\d+)?")


def by_cost(cost: str) -> list[Any]:
    return [pytest.param(entry, id=entry["id"]) for entry in ENTRIES if entry["cost"] == cost]


def published_rows() -> list[Any]:
    rows = [(entry, row) for entry in ENTRIES for row in entry.get("published", [])]
    return [pytest.param(entry, row, id=f"{entry['id']}:{row['table']}:{row['row']}") for entry, row in rows]


# ---- markdown tables ------------------------------------------------------------------------------------


def split_row(line: str) -> list[str]:
    """Cells of a table line, bold marks dropped (``\\|`` is a pipe inside a cell)."""
    cells = re.split(r"(?<!\\)\|", line.strip().removeprefix("|").removesuffix("|"))
    return [cell.strip().replace("**", "") for cell in cells]


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every pipe table of a markdown text as rows of cells (header first, the ``|---|`` line dropped)."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            current.append(line)
            continue
        if len(current) > 1 and set(current[1].replace("|", "").strip()) <= set("-: "):
            tables.append([split_row(current[0]), *(split_row(row) for row in current[2:])])
        current = []
    return tables


def published_table(name: str) -> dict[str, dict[str, str]]:
    """``row label -> column -> cell`` of the declared table, found by its exact header row."""
    spec = TABLES[name]
    header = [spec["label"], *spec["columns"]]
    matches = [
        t for t in markdown_tables((REPO / spec["file"]).read_text(encoding="utf-8")) if t[0] == header
    ]
    assert len(matches) == 1, f"{spec['file']}: {len(matches)} tables with header {header} (table {name})"
    return {row[0]: dict(zip(spec["columns"], row[1:], strict=True)) for row in matches[0][1:]}


def cell_numbers(cell: str) -> list[tuple[float, float]]:
    """(value, half a unit of its last printed digit) for each number in a cell, in order."""
    out = []
    for token in NUMBER.findall(cell):
        text = token.replace("−", "-").replace(",", "")
        decimals = len(text.split(".")[1]) if "." in text else 0
        out.append((float(text), 0.5 * 10.0**-decimals))
    return out


# ---- run outputs ----------------------------------------------------------------------------------------


def load_output(path: Path) -> Any:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return json.loads(path.read_text(encoding="utf-8"))


def lookup(out_dir: Path, path: str) -> Any:
    """``file/key/key...`` (keys may hold dots, list positions are integers) inside a run folder."""
    parts = path.split("/")
    node = load_output(out_dir / parts[0])
    for key in parts[1:]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def mismatches(actual: Any, expected: Any, tolerance: float, where: str) -> list[str]:
    """Every leaf of ``expected`` that ``actual`` lacks or differs from (numbers within ``tolerance``)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected a mapping, got {actual!r}"]
        return [
            problem
            for key, value in expected.items()
            for problem in (
                mismatches(actual[key], value, tolerance, f"{where}/{key}")
                if key in actual
                else [f"{where}/{key}: missing"]
            )
        ]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} items, got {actual!r}"]
        return [
            p
            for i, (a, e) in enumerate(zip(actual, expected, strict=True))
            for p in mismatches(a, e, tolerance, f"{where}/{i}")
        ]
    numbers = (int, float)
    if isinstance(expected, float) and isinstance(actual, numbers) and not isinstance(actual, bool):
        return (
            []
            if math.isclose(actual, expected, rel_tol=0, abs_tol=tolerance)
            else [f"{where}: {actual!r}, expected {expected!r} ± {tolerance:g}"]
        )
    return [] if actual == expected else [f"{where}: {actual!r}, expected {expected!r}"]


def published_mismatches(entry: dict[str, Any], out_dir: Path) -> list[str]:
    """Each number of each published cell against the run's value at the column's path."""
    problems = []
    for row in entry.get("published", []):
        columns = TABLES[row["table"]]["columns"]
        for column, cell in row["cells"].items():
            for (shown, half_unit), path in zip(cell_numbers(cell), columns[column], strict=False):
                full = f"{row['from']}/{path}"
                value = lookup(out_dir, full)
                if abs(value - shown) > half_unit + entry.get("tolerance", 0.0) + 1e-12:
                    problems.append(
                        f"{row['table']} | {row['row']} | {column}: {full} = {value!r}, shown {cell}"
                    )
    return problems


# ---- replay ---------------------------------------------------------------------------------------------


def command_args(command: str, out_dir: Path) -> list[str]:
    """The entry's ``langmix ...`` arguments with ``--out`` pointed at ``out_dir``."""
    args = shlex.split(command)
    assert args[0] == "langmix", f"not a langmix command: {command}"
    args = args[1:]
    if "--out" in args:
        args[args.index("--out") + 1] = str(out_dir)
    else:
        args += ["--out", str(out_dir)]
    return args


def replay(entry: dict[str, Any], data_dir: Path, tmp_path: Path) -> Path:
    """Run the entry's command as a user would (all threads, a fresh cache so no vector is reused)."""
    out_dir = tmp_path / "run"
    env = {**os.environ, "LANGMIX_DATA_DIR": str(data_dir), "LANGMIX_CACHE": str(tmp_path / "cache")}
    env.pop("OMP_NUM_THREADS", None)  # set to 1 by conftest; the published numbers used torch's default
    proc = subprocess.run(
        [sys.executable, "-m", "langmix", *command_args(entry["command"], out_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=entry.get("timeout_s", 1800),
    )
    assert proc.returncode == 0, f"{entry['command']} failed:\n{proc.stderr[-3000:]}"
    return out_dir


def check_replay(entry: dict[str, Any], out_dir: Path) -> None:
    problems = [
        problem
        for file, expected in entry.get("expected", {}).items()
        for problem in mismatches(load_output(out_dir / file), expected, entry.get("tolerance", 0.0), file)
    ]
    problems += published_mismatches(entry, out_dir)
    assert not problems, f"{entry['id']} does not reproduce:\n" + "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("entry", by_cost("cheap"))
def test_cheap_reproduction(entry, data_dir, tmp_path):
    check_replay(entry, replay(entry, data_dir, tmp_path))


@pytest.mark.slow
@pytest.mark.reproduction
@pytest.mark.parametrize("entry", by_cost("expensive"))
def test_expensive_reproduction(entry, data_dir, tmp_path, request):
    if "reproduction" not in (request.config.getoption("markexpr") or ""):
        pytest.skip(f"expensive ({entry['time']}): run with pytest -m reproduction")
    check_replay(entry, replay(entry, data_dir, tmp_path))


# ---- the catalogue against the docs ---------------------------------------------------------------------


def test_catalogue_is_well_formed():
    ids = [entry["id"] for entry in ENTRIES]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for entry in ENTRIES:
        assert entry["cost"] in ("cheap", "expensive"), entry["id"]
        assert entry.get("time"), f"{entry['id']}: say how long the replay takes"
        assert entry.get("expected") or entry.get("published"), f"{entry['id']}: nothing to check"
        command_args(entry["command"], Path("out"))
        for row in entry.get("published", []):
            assert row["table"] in TABLES, f"{entry['id']}: unknown table {row['table']}"
            columns = TABLES[row["table"]]["columns"]
            assert set(row["cells"]) <= set(columns), f"{entry['id']}: unknown columns in {row['row']}"
            for column, cell in row["cells"].items():
                assert isinstance(cell, str), f"{row['row']} | {column}: quote the cell as printed"
                assert len(cell_numbers(cell)) <= len(columns[column]), f"{row['row']} | {column}: {cell}"


@pytest.mark.parametrize(("entry", "row"), published_rows())
def test_published_cells_match_the_docs(entry, row):
    table = published_table(row["table"])
    assert row["row"] in table, f"{TABLES[row['table']]['file']}: no row {row['row']!r} in {row['table']}"
    assert table[row["row"]] == row["cells"], (
        f"{row['table']} | {row['row']}: the docs show {table[row['row']]}"
    )


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_row_of_a_declared_table_is_accounted_for(name):
    claimed = {row["row"] for entry in ENTRIES for row in entry.get("published", []) if row["table"] == name}
    external = set(TABLES[name].get("external_rows", []))
    rows = set(published_table(name))
    assert rows == claimed | external, (
        f"{name}: rows without an entry {sorted(rows - claimed - external)}, "
        f"declared but not in the docs {sorted((claimed | external) - rows)}"
    )


def normalise(command: str) -> str:
    return " ".join(command.replace("\\\n", " ").split())


@pytest.mark.parametrize("entry", [pytest.param(e, id=e["id"]) for e in ENTRIES if e.get("published")])
def test_commands_are_written_beside_their_numbers(entry):
    for file in {TABLES[row["table"]]["file"] for row in entry["published"]}:
        assert normalise(entry["command"]) in normalise((REPO / file).read_text(encoding="utf-8")), (
            f"{file} does not show the command of {entry['id']}: {entry['command']}"
        )


def test_cell_numbers_and_tolerance():
    assert cell_numbers("0.773 ± 0.005") == [(0.773, 0.0005), (0.005, 0.0005)]
    assert cell_numbers("13,090 / 13,014") == [(13090.0, 0.5), (13014.0, 0.5)]
    assert cell_numbers("−0.011 (p 0.0002; −2.3 sd, p_seed 0.05)")[2] == (-2.3, 0.05)
    assert mismatches({"a": {"b": 0.5000004, "c": [1, 2]}}, {"a": {"b": 0.5, "c": [1, 2]}}, 1e-6, "f") == []
    assert mismatches({"a": 0.51}, {"a": 0.5, "z": 1}, 1e-6, "f") == [
        "f/a: 0.51, expected 0.5 ± 1e-06",
        "f/z: missing",
    ]


def test_published_cells_are_recomputed_from_the_output(tmp_path):
    row = {
        "table": "readme-grid",
        "row": "X-Y",
        "from": "summary.json/datasets/xquad-r/systems/cross-t0.05",
        "cells": {"Mo. mAP": "0.747 ± 0.008", "rank distance": "271.6 ± 22.9"},
    }
    cross = {"mo_map": {"mean": 0.74749, "std": 0.0084}, "rank_distance": {"mean": 271.6, "std": 22.86}}
    systems = {"cross-t0.05": cross}
    (tmp_path / "summary.json").write_text(json.dumps({"datasets": {"xquad-r": {"systems": systems}}}))
    assert published_mismatches({"published": [row]}, tmp_path) == []
    cross["mo_map"]["mean"] = 0.7476  # would print 0.748
    (tmp_path / "summary.json").write_text(json.dumps({"datasets": {"xquad-r": {"systems": systems}}}))
    assert len(published_mismatches({"published": [row]}, tmp_path)) == 1
    assert published_mismatches({"published": [row], "tolerance": 0.001}, tmp_path) == []
