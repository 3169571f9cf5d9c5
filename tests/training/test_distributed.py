"""Two processes on CPU (gloo) under torchrun: every step trains on the same batch kind and language on both
ranks, ids never repeat across the ranks of a step, and the run ends with one saved model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from sentence_transformers import SentenceTransformer


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path, tiny_model_dir, data_dir):
    run = tmp_path / "run"
    config = tmp_path / "ddp.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": ["mlqa-r"],
                "data_root": str(data_dir),
                "model": str(tiny_model_dir),
                "max_items": 300,
                "max_seq_length": 24,
                "batch_size": 4,
                "max_steps": 6,
                "val_fraction": 0.2,
                "val_batches": 4,
                "eval_steps": 3,
                "logging_steps": 1,
                "batch_log": True,
                "gather_across_devices": True,
                "output_dir": str(run),
                "seed": 5,
            }
        )
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "langmix.training",
        "--config",
        str(config),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    ranks = [
        [json.loads(line) for line in (run / f"batches.rank{r}.jsonl").read_text().splitlines()]
        for r in range(2)
    ]
    assert [b["step"] for b in ranks[0]] == [b["step"] for b in ranks[1]] == [1, 2, 3, 4, 5, 6]
    for b0, b1 in zip(*ranks, strict=True):
        assert (b0["kind"], b0["language"]) == (b1["kind"], b1["language"]), (b0, b1)
        assert not set(b0["ids"]) & set(b1["ids"])
        if b0["kind"] == "mono":
            assert set(b0["qlang"]) == set(b0["plang"]) == set(b1["plang"]) == {b0["language"]}
        else:
            assert all(
                q != p for q, p in zip(b0["qlang"] + b1["qlang"], b0["plang"] + b1["plang"], strict=True)
            )
    assert {b["kind"] for b in ranks[0]} == {"mono", "cross"}  # seed 5 gives both kinds in 6 steps

    models = [p.parent for p in run.rglob("modules.json")]
    assert run / "model" in models and all(p == run / "model" or "checkpoint-" in p.name for p in models)
    assert SentenceTransformer(str(run / "model"), device="cpu").encode(["x"]).shape == (1, 32)
    info = json.loads((run / "run.json").read_text())
    assert info["world_size"] == 2 and info["result"]["global_step"] == 6
    comp = json.loads((run / "batch_composition.json").read_text())["trained"]
    assert comp["batches"] == 12
    assert "done: 6 steps" in proc.stderr + proc.stdout
