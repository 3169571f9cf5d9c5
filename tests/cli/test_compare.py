"""``langmix compare`` on the one run-folder contract: MIRACL/BEIR runs side by side, kinds never mixed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tests.helpers import invoke, write_beir

from langmix.evaluation.run_folder import HEADER, load_run

CORPUS = [
    {"_id": "nairobi", "title": "Nairobi", "text": "Nairobi is the capital of Kenya.", "lang": "en"},
    {"_id": "jazz", "title": "Jazz", "text": "Jazz is a music genre from New Orleans.", "lang": "en"},
    {"_id": "mji", "title": "Nairobi", "text": "Nairobi ni mji mkuu wa Kenya.", "lang": "sw"},
]
QUERIES = [
    {"_id": "q1", "text": "capital of Kenya", "lang": "en"},
    {"_id": "q2", "text": "music from New Orleans", "lang": "en"},
    {"_id": "q3", "text": "mji mkuu wa Kenya", "lang": "sw"},
]
# two systems' runs: "good" ranks every relevant passage first, "poor" ranks q2's answer last
RUNS = {
    "good": {"q1": ["nairobi", "jazz", "mji"], "q2": ["jazz", "mji", "nairobi"], "q3": ["mji", "nairobi"]},
    "poor": {"q1": ["nairobi", "jazz", "mji"], "q2": ["mji", "nairobi", "jazz"], "q3": ["mji", "nairobi"]},
}


@pytest.fixture
def beir_runs(tmp_path):
    """Two BEIR run folders (``good``, ``poor``), scored from run files: no model needed."""
    root = write_beir(tmp_path / "set", CORPUS, QUERIES, {"q1": "nairobi", "q2": "jazz", "q3": "mji"})
    folders = {}
    for name, ranking in RUNS.items():
        runs = tmp_path / f"{name}-runs"
        runs.mkdir()
        for lang, qids in (("en", ("q1", "q2")), ("sw", ("q3",))):
            lines = [f"{q} Q0 {d} {r} {10 - r} x\n" for q in qids for r, d in enumerate(ranking[q], start=1)]
            (runs / f"{lang}.trec").write_text("".join(lines))
        folders[name] = tmp_path / name
        invoke(
            "evaluate",
            "beir",
            root,
            "--runs",
            f"{runs}/{{lang}}.trec",
            "--out",
            folders[name],
            "--k",
            3,
            "--metrics",
            "nDCG@3,Recall@3,MRR@3",
        )
    return folders


def test_retrieval_run_folder_carries_the_common_header(beir_runs):
    doc = json.loads((beir_runs["good"] / "metrics.json").read_text())
    assert list(doc)[:4] == list(HEADER)
    assert doc["kind"] == "retrieval" and doc["benchmark"] == "beir:set:test"
    assert doc["model"] == {"name": "(run files)"}
    assert doc["headline"] == {m: doc["mean"][m] for m in ("nDCG@3", "Recall@3", "MRR@3")}


def test_compare_two_beir_runs_prints_their_table(beir_runs):
    shown = invoke("compare", beir_runs["good"], beir_runs["poor"]).output
    assert "beir:set:test" in shown and "nDCG@3" in shown and "MRR@3" in shown
    good, poor = (load_run(beir_runs[n])["headline"] for n in ("good", "poor"))
    assert poor["MRR@3"] < good["MRR@3"]
    assert f"({poor['MRR@3'] - good['MRR@3']:+.4f})" in shown


def test_run_folders_without_the_header_are_still_read(beir_runs, tmp_path):
    path = beir_runs["poor"] / "metrics.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if k not in HEADER or k == "benchmark"}
    path.write_text(json.dumps(old))
    doc = load_run(beir_runs["poor"])
    assert doc["kind"] == "retrieval" and doc["model"] == {"name": "(run files)"}
    assert "nDCG@3" in invoke("compare", beir_runs["good"], beir_runs["poor"]).output


def test_compare_refuses_mixing_a_lareqa_and_a_beir_run(beir_runs, tiny_model_dir, data_dir, tmp_path):
    lareqa = tmp_path / "lareqa"
    invoke(
        "evaluate",
        "xquad-r",
        "--model",
        tiny_model_dir,
        "--langs",
        "en,de",
        "--max-questions",
        5,
        "--max-length",
        16,
        "--out",
        lareqa,
        "--data-dir",
        data_dir,
    )
    doc = json.loads((lareqa / "metrics.json").read_text())
    assert doc["kind"] == "lareqa" and doc["model"]["name"] and doc["headline"]["mul_map"] > 0
    proc = subprocess.run(
        [sys.executable, "-m", "langmix", "compare", str(lareqa), str(beir_runs["good"])],
        capture_output=True,
        text=True,
        env={**os.environ, "LANGMIX_DATA_DIR": str(data_dir)},
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "different kinds" in lines[0], proc.stderr
