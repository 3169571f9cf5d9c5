"""Collate rows of a planned batch: tokenise with sentence-transformers' collator, keep the batch's identity.

Rows come from :class:`langmix.batching.samplers.ParallelRows` with ``_dataset``/``_id``/``_qlang``/
``_plang`` next to the texts. Those are removed before tokenising and returned under ``"_batch"``
(kind, language, ids) so the trainer can log the loss per batch kind and record what it trained on.
"""

from __future__ import annotations

from typing import Any

from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator

META_KEYS = ("_dataset", "_id", "_qlang", "_plang")
BATCH_KEY = "_batch"


def batch_meta(rows: list[dict[str, Any]]) -> dict[str, Any]:
    qlang = [r["_qlang"] for r in rows]
    plang = [r["_plang"] for r in rows]
    mono = all(q == p for q, p in zip(qlang, plang, strict=True))
    return {
        "kind": "mono" if mono else "cross",
        "language": qlang[0] if mono else None,
        "dataset": rows[0]["_dataset"],
        "ids": [r["_id"] for r in rows],
        "qlang": qlang,
        "plang": plang,
    }


class ParallelCollator(SentenceTransformerDataCollator):
    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if not features:
            return {}
        meta = batch_meta(features) if "_qlang" in features[0] else None
        clean = [{k: v for k, v in row.items() if k not in META_KEYS} for row in features]
        batch = super().__call__(clean)
        if meta is not None:
            batch[BATCH_KEY] = meta
        return batch
