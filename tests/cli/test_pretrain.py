"""``langmix pretrain`` end to end on the tiny model with a folder of text files."""

from __future__ import annotations

import json

import pytest
from sentence_transformers import SentenceTransformer
from tests.helpers import invoke

from langmix.errors import LangmixError


def test_pretrain_command_trains_from_text_files_and_reports_the_loss(tiny_model_dir, tmp_path):
    texts = tmp_path / "text"
    texts.mkdir()
    lines = [f"Satz Nummer {i} über den Bahnhof und das Wetter." for i in range(40)]
    (texts / "de.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "pre"
    args = ["pretrain", "--model", tiny_model_dir, "--text-dir", texts, "--out", out, "--max-steps", 4]
    result = invoke(*args, "--batch-size", 8, "--val-fraction", 0.2, "--precision", "fp32", "--lr", "1e-3")
    info = json.loads((out / "run.json").read_text())
    assert info["texts"]["train"] == 32 and info["result"]["global_step"] == 4
    loss = info["result"]["val_mlm_loss_after"]
    assert f"{loss:.3f}" in " ".join(result.output.split())
    SentenceTransformer(str(out / "model"))
    # bad input: one line naming the folder (the CLI's main prints it as one "error:" line)
    with pytest.raises(LangmixError, match="missing holds no .txt files"):
        invoke("pretrain", "--text-dir", tmp_path / "missing", "--out", tmp_path / "x")
