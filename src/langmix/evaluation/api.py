"""Library entry points of the LAReQA evaluation: on a model, on embeddings, or as a full run folder.

A notebook user calls :func:`evaluate_model` with their own ``SentenceTransformer`` (or
:func:`~langmix.evaluation.lareqa.evaluate_embeddings` with vectors they computed elsewhere);
``langmix evaluate`` calls :func:`run_lareqa`, which also writes the report folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from langmix.data.lareqa import LareqaSet, load_lareqa
from langmix.errors import LangmixError
from langmix.evaluation.lareqa import LareqaResult, evaluate_embeddings
from langmix.models.debias import group_means, subtract_group_means
from langmix.models.encoder import ENCODE_BATCH_SIZE, Encoder, EncodeStats
from langmix.models.precision import DEFAULT_PRECISION, device_description, model_device
from langmix.progress import SILENT, ProgressSink

# "language": the oracle analysis, each question and candidate minus the mean of the pool's candidates in
# its language, re-normalised. It needs every text's language, so it measures how much of the bias is a
# per-language offset; it is not a model (``langmix debias`` is the shippable variant). Not each kind's own
# means: a question mean over a --max-questions subset (a few articles) holds their topic, and subtracting
# it cost 0.17 Mo. mAP on XQuAD-R at 25 questions per language.
CENTER_MODES = ("none", "language")
ORACLE_LABEL = "oracle analysis (uses each text's language)"


@dataclass
class LareqaOptions:
    """Everything that changes the numbers of a LAReQA run (recorded in metrics.json)."""

    dataset: str = "xquad-r"
    languages: list[str] | None = None
    max_questions: int | None = None
    candidate_mode: str = "sentence"
    batch_size: int = ENCODE_BATCH_SIZE
    max_length: int | None = None
    strict: bool = True
    use_cache: bool = True
    precision: str = DEFAULT_PRECISION  # auto | fp32 | bf16 | fp16 (langmix.models.precision)
    center: str = "none"  # none | language (the oracle analysis, see CENTER_MODES)


@dataclass
class LareqaRun:
    result: LareqaResult
    data: LareqaSet
    options: LareqaOptions
    encoding: EncodeStats
    fingerprint: str  # of the evaluated model's weights (see model_fingerprint)
    timings: dict[str, float] = field(default_factory=dict)
    precision: str = "fp32"  # the one that ran (options.precision resolved)
    device: dict[str, object] = field(default_factory=dict)  # what ran it (see device_description)


def encode_lareqa(
    encoder: Encoder, data: LareqaSet, *, candidate_mode: str = "sentence"
) -> tuple[np.ndarray, np.ndarray, EncodeStats]:
    """Question (``query`` prompt) and candidate (``passage`` prompt) embeddings, each text encoded once."""
    stats = EncodeStats()
    out = []
    for label, texts, kind in (
        ("questions", data.q_text, "query"),
        ("candidates", data.candidate_texts(candidate_mode), "passage"),
    ):
        vectors, part = encoder.encode(texts, kind, label=f"encoding {data.name} {label}")
        stats.add(part)
        out.append(vectors)
    return out[0], out[1], stats


def center_lareqa(
    data: LareqaSet, q_emb: np.ndarray, c_emb: np.ndarray, center: str, progress: ProgressSink = SILENT
) -> tuple[np.ndarray, np.ndarray]:
    """The vectors scored under ``center`` (:data:`CENTER_MODES`). Applied after encoding, so the
    embedding cache only ever holds the model's own vectors."""
    check_center(center)
    if center == "none":
        return q_emb, c_emb
    with progress.task(ORACLE_LABEL, total=2) as advance:
        means = group_means(c_emb, data.c_lang)  # the pool's, so --max-questions does not change them
        q_emb = subtract_group_means(q_emb, data.q_lang, means)
        advance(1)
        c_emb = subtract_group_means(c_emb, data.c_lang, means)
        advance(1)
    return q_emb, c_emb


def check_center(center: str) -> str:
    if center not in CENTER_MODES:
        raise LangmixError(f"unknown center mode {center!r}; use one of {', '.join(CENTER_MODES)}")
    return center


def evaluate_model(
    model,
    data: LareqaSet,
    *,
    candidate_mode: str = "sentence",
    batch_size: int = ENCODE_BATCH_SIZE,
    use_cache: bool = True,
    progress: ProgressSink = SILENT,
    precision: str = DEFAULT_PRECISION,
    center: str = "none",
) -> LareqaResult:
    """Encode ``data`` with ``model`` (any SentenceTransformer) at ``precision`` (``model`` itself is not
    changed) and score every LAReQA setting (``center="language"``: the oracle analysis)."""
    check_center(center)
    encoder = Encoder(
        model, batch_size=batch_size, use_cache=use_cache, progress=progress, precision=precision
    )
    q_emb, c_emb, _ = encode_lareqa(encoder, data, candidate_mode=candidate_mode)
    return evaluate_embeddings(data, *center_lareqa(data, q_emb, c_emb, center, progress))


def run_lareqa(
    model,
    options: LareqaOptions,
    *,
    data_root: str | Path | None = None,
    progress: ProgressSink = SILENT,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> LareqaRun:
    """Load the set named in ``options``, encode, score, and time each phase. ``transform`` maps the
    vectors (questions and candidates alike) before scoring, e.g. a debiasing projection; the embedding
    cache keeps the model's own vectors."""

    check_center(options.center)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data = load_lareqa(
        options.dataset,
        languages=options.languages,
        data_root=data_root,
        max_questions=options.max_questions,
        strict=options.strict,
    )
    timings["load_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    encoder = Encoder.for_evaluation(
        model,
        options.max_length,
        batch_size=options.batch_size,
        use_cache=options.use_cache,
        progress=progress,
        precision=options.precision,
    )
    fingerprint = encoder.fingerprint
    q_emb, c_emb, stats = encode_lareqa(encoder, data, candidate_mode=options.candidate_mode)
    timings["encode_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    q_emb, c_emb = center_lareqa(data, q_emb, c_emb, options.center, progress)
    if transform is not None:
        q_emb, c_emb = transform(q_emb), transform(c_emb)
    result = evaluate_embeddings(data, q_emb, c_emb, progress=progress)
    timings["score_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t0
    return LareqaRun(
        result=result,
        data=data,
        options=options,
        encoding=stats,
        fingerprint=fingerprint,
        timings=timings,
        precision=encoder.precision,
        device=device_description(model_device(model)),
    )


def options_dict(options: LareqaOptions) -> dict:
    return asdict(options)
