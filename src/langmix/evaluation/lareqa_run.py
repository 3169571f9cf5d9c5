"""A LAReQA run as a run folder: ``metrics.json`` (every number) and ``per_query.npz`` (significance tests).

Everything shown later (report.md, the heatmap, compare, experiment summaries) is rendered from the
metrics document, so it can always be re-made from ``metrics.json`` alone and never disagrees with it.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from langmix.data.lareqa import checksum_mismatches
from langmix.evaluation.api import LareqaRun, options_dict
from langmix.evaluation.lareqa import METRICS
from langmix.evaluation.run_folder import Renderer, with_header, write_run_folder
from langmix.io import library_versions

TIE_BREAKING = (
    "pessimistic: a relevant candidate ranks below all candidates with an equal score "
    "(sklearn average_precision_score semantics)"
)


def _clean(value: Any) -> Any:
    """JSON-ready: NaN → null, floats rounded to 6 digits, numpy scalars → Python numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _data_facts(run: LareqaRun) -> dict[str, Any]:
    data = run.data
    return {
        "n_questions": data.n_questions,
        "n_ids": len(set(data.q_id)),
        "n_candidates": data.n_candidates,
        "files": data.files,
        "checksum_mismatches": checksum_mismatches(data),
        "skipped": [str(s) for s in data.skipped],
    }


def metrics_document(run: LareqaRun, model: dict) -> dict:
    """The ``metrics.json`` document of a LAReQA run; ``model`` needs at least ``name``."""
    res = run.result
    matrix = {"languages": list(res.languages), "count": res.pair_count.tolist()}
    matrix.update({m: res.pair[m].tolist() for m in METRICS})
    doc = {
        "benchmark": run.data.name,
        "model": {**model, "fingerprint": run.fingerprint, "precision": run.precision},
        "device": run.device,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "options": options_dict(run.options),
        "data": _data_facts(run),
        "settings": res.settings_count(),
        "summary": res.summary(),
        "matrix": matrix,
        "bias": res.bias(),
        "encoding": vars(run.encoding),
        "timings": run.timings,
        "versions": library_versions(),
        "tie_breaking": TIE_BREAKING,
    }
    return with_header("lareqa", _clean(doc))


def write_lareqa_run(
    run: LareqaRun, model: dict, out_dir: str | Path, *, render: Renderer | None = None
) -> dict:
    """Write ``per_query.npz``, the files ``render`` makes (report.md, heatmap) and ``metrics.json``."""
    doc = metrics_document(run, model)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **run.result.per_query)
    write_run_folder(out_dir, doc, {"per_query.npz": buffer.getvalue()}, render)
    return doc
