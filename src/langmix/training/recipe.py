"""The embedded model's default training recipe: what ``langmix train`` and ``langmix demo`` use for
multilingual-e5-small unless told otherwise.

Why a recipe of its own: :class:`~langmix.training.config.TrainConfig`'s plain defaults follow the paper
(SPEC §2: temperature 0.05, no hard negatives, train by epochs) and suit any start model, but on the
embedded, already contrastive e5 model they cost monolingual quality (docs/results.md). Issue 13's
screening chose this recipe on a CPU budget (one paragraph hard negative, the model's own temperature, 200
steps kept by validation loss, WiSE-FT merge 0.25 toward the start model); docs/results.md holds its
numbers and the commands that made them, and ``configs/recipe.yaml``'s train block is this mapping (a test
keeps them equal). :func:`langmix.training.config.load_config` applies it under the file and the flags, so
any value given explicitly wins; giving ``epochs`` or ``max_steps`` replaces the recipe's length.
"""

from __future__ import annotations

from typing import Any

from langmix.models.embedded import BASE_MODEL, EMBEDDED_NAME

EMBEDDED_RECIPE: dict[str, Any] = {
    "max_seq_length": 64,
    "freeze_embeddings": True,  # 96M of e5-small's 118M parameters; frozen = faster steps, less forgetting
    "batch_size": 16,
    "hard_negatives": 1,  # another sentence of the answer's paragraph per row (LAReQA's hardest distractor)
    "max_steps": 200,
    "learning_rate": 3e-5,
    "weight_decay": 0.01,
    "warmup": 0.1,
    "temperature": "auto",  # e5's own 0.01
    "merge_start": 0.25,  # model/ = 0.75 x fine-tuned + 0.25 x start model
    "val_fraction": 0.1,
    "eval_steps": 100,
    "logging_steps": 10,
}

# Options that together say how long to train: one given replaces the recipe's value of all of them.
LENGTH_OPTIONS = ("max_steps", "epochs")

RECIPE_MODELS = (EMBEDDED_NAME, BASE_MODEL)


def recipe_for(model: str) -> dict[str, Any]:
    """The default recipe of a start model ({} where it has none: the plain defaults apply)."""
    return dict(EMBEDDED_RECIPE) if model in RECIPE_MODELS else {}
