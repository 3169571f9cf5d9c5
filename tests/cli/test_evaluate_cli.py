"""The evaluate CLI end to end on a tiny local model: run folder, report, heatmap, compare, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from langmix.cli import app


def test_bad_input_is_one_line_without_traceback(tmp_path):
    (tmp_path / "lareqa" / "xquad-r").mkdir(parents=True)
    (tmp_path / "lareqa" / "xquad-r" / "en.json").write_text('{"data": [')
    env = {**os.environ, "LANGMIX_DATA_DIR": str(tmp_path), "LANGMIX_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "langmix",
            "evaluate",
            "xquad-r",
            "--langs",
            "en",
            "--model",
            str(tmp_path / "nope"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr


@pytest.mark.parametrize("args", [["evaluate", "xquad-x"], ["evaluate", "xquad-r", "--langs", "en,xx"]])
def test_unknown_benchmark_or_language(args, data_dir):
    env = {**os.environ, "LANGMIX_DATA_DIR": str(data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "langmix", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "xquad-x" in proc.stderr or "unknown language code(s) xx" in proc.stderr


def test_evaluate_and_compare_with_tiny_model(tiny_model_dir, data_dir, tmp_path):
    runner = CliRunner()

    def evaluate(out, *extra):
        args = [
            "evaluate",
            "xquad-r",
            "--model",
            str(tiny_model_dir),
            "--langs",
            "en,de,zh",
            "--max-questions",
            "15",
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--max-length",
            "32",
        ]
        return runner.invoke(app, [*args, *extra])

    outs = []
    for name, extra in (("a", []), ("b", ["--candidate", "sentence+paragraph"])):
        out = tmp_path / name
        result = evaluate(out, *extra)
        assert result.exit_code == 0, result.output
        doc = json.loads((out / "metrics.json").read_text())
        assert doc["settings"] == {"mo": 3, "cr": 6, "mul": 3}
        assert doc["data"]["n_questions"] == 45
        assert doc["options"]["candidate_mode"] == ("sentence" if name == "a" else "sentence+paragraph")
        assert (out / "heatmap_map.png").read_bytes()[:4] == b"\x89PNG"
        assert "| mean |" in (out / "report.md").read_text()
        outs.append(out)
    # a second evaluation of the same model reads every embedding from the cache
    again = evaluate(tmp_path / "c")
    assert again.exit_code == 0, again.output
    enc = json.loads((tmp_path / "c" / "metrics.json").read_text())["encoding"]
    assert enc["encoded"] == 0 and enc["from_cache"] == enc["unique"] > 0
    compared = runner.invoke(app, ["compare", str(outs[0]), str(outs[1])])
    assert compared.exit_code == 0, compared.output
    assert "Mul. mAP" in compared.output
