"""LAReQA during training: a sentence-transformers evaluator the trainer runs at every validation.

It lives with the other evaluators (and scores through the same :func:`langmix.evaluation.api.evaluate_model`
as ``langmix evaluate``), so a number logged during training means what the final evaluation means.
"""

from __future__ import annotations

import numpy as np
from sentence_transformers.base.evaluation import BaseEvaluator

from langmix.data.lareqa import load_lareqa
from langmix.evaluation.api import evaluate_model
from langmix.models.encoder import ENCODE_BATCH_SIZE
from langmix.models.precision import DEFAULT_PRECISION


class LareqaEvaluator(BaseEvaluator):
    """Mo./Cr./Mul. mAP (macro means) and their mean on a question subset of XQuAD-R / MLQA-R.

    Args:
        name: ``"xquad-r"`` or ``"mlqa-r"``; metrics are logged as ``eval_<name>_mo_map`` etc.
        max_questions: questions per language (a subset keeps the evaluation cheap).
        languages: the languages to evaluate (default: all of the set).
        data_root: folder holding ``lareqa/`` (default ``$LANGMIX_DATA_DIR``).
        batch_size: texts encoded at once.
        precision: of the encoding (:mod:`langmix.models.precision`); a cast copy of the model is made at
            each evaluation, so the weights being trained are never touched.

    Example::

        trainer = SentenceTransformerTrainer(..., evaluator=LareqaEvaluator("xquad-r", max_questions=200))
    """

    def __init__(
        self,
        name: str,
        *,
        max_questions: int | None = 200,
        languages: list[str] | None = None,
        data_root: str | None = None,
        batch_size: int = ENCODE_BATCH_SIZE,
        precision: str = DEFAULT_PRECISION,
    ):
        super().__init__()
        self.name = name
        self.data = load_lareqa(name, languages=languages, data_root=data_root, max_questions=max_questions)
        self.batch_size = batch_size
        self.precision = precision
        self.primary_metric = "mean_map"
        self.greater_is_better = True

    def __call__(
        self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        result = evaluate_model(
            model, self.data, batch_size=self.batch_size, use_cache=False, precision=self.precision
        )
        mo, cr, mul = result.mono()["mean"], result.cross()["mean"], result.multi()["mean"]
        metrics = {"mo_map": mo, "cr_map": cr, "mul_map": mul, "mean_map": float(np.mean([mo, cr, mul]))}
        return self.prefix_name_to_metrics(metrics, self.name.replace("-", "_"))
