"""The tiny experiment the grid tests share: a tiny local model, 3 training steps, 12 questions."""

from __future__ import annotations

import pytest
import yaml

from langmix.experiments.grid import load_experiment


@pytest.fixture
def tiny_experiment(tmp_path, tiny_model_dir, data_dir):
    config = {
        "name": "tiny",
        "output_dir": str(tmp_path / "exp"),
        "train": {
            "model": str(tiny_model_dir),
            "data": ["mlqa-r"],
            "languages": ["en", "de", "es"],
            "max_items": 80,
            "max_steps": 3,
            "batch_size": 8,
            "max_seq_length": 32,
            "val_fraction": 0.25,
            "eval_steps": 2,
            "logging_steps": 1,
            "warmup": 0,
        },
        "strategies": ["mono", "hybrid"],
        "seeds": [1, 2],
        "evaluate": ["xquad-r"],
        "eval_languages": ["en", "de", "es"],
        "eval_max_questions": 12,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_experiment(path)
