"""Small helpers shared by several test modules (imported as ``tests.helpers``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from langmix.cli import app
from langmix.data.lareqa import LareqaSet


def invoke(*args):
    """Run ``langmix ARGS`` in process; re-raise a real exception, and require exit code 0."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def toy_lareqa_set() -> LareqaSet:
    """2 languages, 2 questions per language (ids a, b), 3 candidates per language."""
    return LareqaSet(
        name="toy",
        languages=("en", "de"),
        q_text=["qa-en", "qb-en", "qa-de", "qb-de"],
        q_id=["a", "b", "a", "b"],
        q_lang=np.array([0, 0, 1, 1]),
        q_answer=np.array([0, 1, 3, 4]),
        c_text=["a-en", "b-en", "x-en", "a-de", "b-de", "x-de"],
        c_lang=np.array([0, 0, 0, 1, 1, 1]),
        c_paragraph=np.zeros(6, int),
        paragraphs=["p"],
    )


def write_beir(root: Path, corpus: list[dict], queries: list[dict], qrels: dict[str, str]) -> Path:
    """A BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/test.tsv`` (query -> relevant doc)."""
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    lines = "".join(f"{q}\t{d}\t1\n" for q, d in qrels.items())
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + lines)
    return root
