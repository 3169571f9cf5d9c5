"""MIRACL / BEIR evaluation: encode each pool's corpus (resumable shards), index it, search its queries,
write TREC runs, score them (trec_eval ``-c``) and write the run folder. Used by ``langmix evaluate``.

Work folder (kept between runs; an interrupted encoding resumes, a finished index is reused)::

    <work>/<pool>/embeddings/      shards + manifest (langmix.retrieval.shards)
    <work>/<pool>/index-<kind>/    faiss index + ids (langmix.retrieval.index)

Run folder (:mod:`langmix.evaluation.run_folder`)::

    runs/<lang>.trec    per_query.jsonl    metrics.json    (+ report.md from langmix.reports.retrieval)

Pools (one corpus and the query groups searched in it) come from :mod:`langmix.data.pools`. Per language:
the mean over its judged queries; across languages: the macro mean and the median of the per-language means.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from langmix.data.beir import Qrels, Queries
from langmix.data.pools import PassageFactory, Pool
from langmix.data.runfiles import Run, read_trec_run, results_to_run, write_results
from langmix.errors import FILE_ERRORS, LangmixError
from langmix.evaluation.run_folder import Renderer, with_header, write_run_folder
from langmix.evaluation.trec import DEFAULT_METRICS, RunScores, evaluate_run, parse_metric
from langmix.io import library_versions
from langmix.models.encoder import ENCODE_BATCH_SIZE, EncodingModel
from langmix.models.precision import DEFAULT_PRECISION, device_description, model_device, resolve_for_model
from langmix.progress import SILENT, ProgressSink
from langmix.retrieval.encode import encode_corpus
from langmix.retrieval.index import IndexConfig, SearchIndex, build_index
from langmix.retrieval.search import Searcher
from langmix.retrieval.shards import DEFAULT_SHARD_SIZE

SEMANTICS = (
    "trec_eval -c semantics via pytrec_eval: every judged query counts, queries missing from the run "
    "score 0; grade > 0 is relevant; nDCG gain = grade, log2 discount"
)


@dataclass
class RetrievalSettings:
    """Options of an evaluation run (all recorded in ``metrics.json``)."""

    k: int = 100
    metrics: tuple[str, ...] = DEFAULT_METRICS
    index: IndexConfig = field(default_factory=IndexConfig)
    shard_size: int = DEFAULT_SHARD_SIZE
    batch_size: int = ENCODE_BATCH_SIZE
    dtype: str = "float16"
    devices: tuple[str, ...] | None = None
    query_prompt: str | None = None
    passage_prompt: str | None = None
    overwrite: bool = False
    tag: str = "langmix"
    precision: str = DEFAULT_PRECISION  # auto | fp32 | bf16 | fp16 (langmix.models.precision)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise LangmixError(f"k must be positive, got {self.k}")
        for label in self.metrics:
            parse_metric(label)
            cut = int(label.split("@")[1]) if "@" in label else None
            if cut is not None and cut > self.k:
                raise LangmixError(f"metric {label} looks deeper than the run: raise --k to at least {cut}")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = list(self.metrics)
        return d


def _reusable(idx_dir: Path, embeddings: Any, settings: RetrievalSettings) -> SearchIndex | None:
    """The index in ``idx_dir`` if it was built from these finished embeddings with these settings."""
    if not (idx_dir / "index.json").is_file() or settings.overwrite:
        return None
    try:
        index = SearchIndex.load(idx_dir)
    except (LangmixError, *FILE_ERRORS):
        return None  # a torn or corrupt index is a cache miss: built again and saved over it
    wanted = asdict(settings.index)
    built = {key: index.info["config"].get(key) for key in wanted}
    if settings.index.kind == "ivf" and settings.index.nlist is None:
        built["nlist"] = None
    # the embeddings' identity covers the model, settings and every encoded passage's content
    if index.info.get("embeddings_identity") == embeddings.identity and built == wanted:
        return index
    return None


def prepare_index(
    model: EncodingModel,
    passages: PassageFactory,
    work_dir: str | Path,
    settings: RetrievalSettings,
    *,
    model_name: str,
    model_meta: Mapping[str, Any] | None = None,
    source: str = "corpus",
    total: int | None = None,
    progress: ProgressSink = SILENT,
    label: str = "",
) -> SearchIndex:
    """Encode (or resume encoding) the corpus into ``work_dir/embeddings`` and index it; reuse an index that
    was built from the same finished embeddings with the same settings (precision included)."""
    work_dir = Path(work_dir)
    emb_dir, idx_dir = work_dir / "embeddings", work_dir / f"index-{settings.index.kind}"
    meta = {
        "model": model_name,
        **(model_meta or {}),
        "max_seq_length": getattr(model, "max_seq_length", None),
        "corpus": source,
    }
    result = encode_corpus(
        model,
        passages(),
        emb_dir,
        shard_size=settings.shard_size,
        batch_size=settings.batch_size,
        dtype=settings.dtype,
        prompt=settings.passage_prompt,
        devices=settings.devices,
        meta=meta,
        overwrite=settings.overwrite,
        source=source,
        progress=progress,
        total=total,
        label=f"encode {label}".strip(),
        precision=settings.precision,
    )
    if result.n_encoded == 0 and (index := _reusable(idx_dir, result.embeddings, settings)) is not None:
        return index
    index = build_index(result.embeddings, settings.index, progress=progress, label=f"index {label}".strip())
    index.save(idx_dir)
    return index


def _unknown_docs(index: SearchIndex, qrels: Qrels) -> dict[str, Any]:
    judged = sorted({d for docs in qrels.judgments.values() for d in docs})
    encoded = np.array([d.encode("utf-8") for d in judged], dtype=index.ids.dtype if judged else "S1")
    # ids longer than the index's fixed width cannot be in it; np.array would truncate them silently
    fits = np.array([len(d.encode("utf-8")) <= index.ids.dtype.itemsize for d in judged], dtype=bool)
    present = np.isin(encoded, np.asarray(index.ids)) & fits
    known = {d for d, p in zip(judged, present.tolist(), strict=True) if p}
    return qrels.unknown_docs(known).as_dict()


def _search_group(
    searcher: Searcher,
    label: str,
    queries: Queries,
    qrels: Qrels,
    out_dir: Path,
    settings: RetrievalSettings,
    progress: ProgressSink,
) -> tuple[Run, dict[str, Any]]:
    """Search one query group, write its TREC run, return the run and the facts recorded beside it."""
    results = searcher.search_many(queries, settings.k, progress=progress, label=f"search {label}")
    write_results(run_file(out_dir, label), results, "trec", settings.tag)
    details = {
        "qrels_docs_not_in_corpus": _unknown_docs(searcher.index, qrels),
        "corpus_passages": len(searcher.index),
        "index": searcher.index.kind,
    }
    return results_to_run(results), details


_SAFE_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NO_JUDGED_QUERIES = "no judged queries in the qrels: left out of every mean"


def run_file(out_dir: Path, label: str) -> Path:
    """``<out>/runs/<label>.trec``; a label that is not a plain name (``../x``) never becomes a path."""
    if not _SAFE_LABEL.fullmatch(label):
        raise LangmixError(f"query group {label!r} is not a plain name (letters, digits, . _ -); rename it")
    return out_dir / "runs" / f"{label}.trec"


def _given_run(runs: Mapping[str, str | Path], label: str) -> tuple[Run, dict[str, Any]]:
    if label not in runs:
        raise LangmixError(f"no run file given for {label}")
    return read_trec_run(runs[label]), {"run_file": str(runs[label])}


def _pool_searcher(
    pool: Pool,
    model: EncodingModel | None,
    work_dir: Path,
    settings: RetrievalSettings,
    model_name: str,
    model_meta: Mapping[str, Any] | None,
    progress: ProgressSink,
) -> Searcher:
    if model is None or pool.passages is None:
        raise LangmixError(f"{pool.name}: searching needs a model and a corpus (or give run files)")
    index = prepare_index(
        model,
        pool.passages,
        work_dir / pool.name,
        settings,
        model_name=model_name,
        model_meta=model_meta,
        source=pool.source,
        total=pool.total,
        progress=progress,
        label=pool.name,
    )
    return Searcher(
        index,
        model,
        query_prompt=settings.query_prompt,
        batch_size=settings.batch_size,
        precision=settings.precision,
    )


def evaluate_pools(
    pools: Sequence[Pool],
    out_dir: str | Path,
    *,
    model: EncodingModel | None,
    model_name: str,
    benchmark: str,
    model_meta: Mapping[str, Any] | None = None,
    settings: RetrievalSettings | None = None,
    work_dir: str | Path | None = None,
    runs: Mapping[str, str | Path] | None = None,
    progress: ProgressSink = SILENT,
    extra_config: Mapping[str, Any] | None = None,
    render: Renderer | None = None,
) -> dict[str, Any]:
    """Search every pool (or read ``runs``, keyed by group label), score each group, write the run folder.

    ``model_meta`` (e.g. a weight fingerprint) is recorded with the embeddings: a resumed encoding or a reused
    index with other facts is refused or rebuilt. ``render`` makes the report files (e.g.
    :func:`langmix.reports.retrieval.report_files`). Returns the ``metrics.json`` object.
    """
    settings = settings or RetrievalSettings()
    out_dir = Path(out_dir)
    work_dir = Path(work_dir) if work_dir is not None else out_dir / "work"
    scores: dict[str, RunScores] = {}
    details: dict[str, dict[str, Any]] = {}
    excluded = {
        label: {"n_queries": n, "reason": NO_JUDGED_QUERIES}
        for pool in pools
        for label, n in pool.unjudged.items()
    }
    for pool in pools:
        searcher = None
        if runs is None:
            searcher = _pool_searcher(pool, model, work_dir, settings, model_name, model_meta, progress)
        for label, (queries, qrels) in pool.groups.items():
            if searcher is not None:
                found = _search_group(searcher, label, queries, qrels, out_dir, settings, progress)
            else:
                found = _given_run(runs or {}, label)
            run, details[label] = found
            scores[label] = evaluate_run(qrels, run, settings.metrics)
    config = {"model": model_name, **(model_meta or {}), **settings.as_dict(), **(extra_config or {})}
    model_info = {"name": model_name, **(model_meta or {})}
    device = None
    if runs is None and model is not None:  # the model ran: at which precision, on what
        model_info["precision"] = resolve_for_model(settings.precision, model)
        device = device_description(model_device(model))
    summary = summarize(
        scores,
        benchmark=benchmark,
        model=model_info,
        details=details,
        config=config,
        device=device,
        excluded=excluded,
    )
    write_retrieval_run(out_dir, summary, scores, render=render)
    return summary


def summarize(
    scores: Mapping[str, RunScores],
    *,
    benchmark: str,
    model: Mapping[str, Any] | None = None,
    details: Mapping[str, Mapping[str, Any]] | None = None,
    config: Mapping[str, Any] | None = None,
    device: Mapping[str, Any] | None = None,
    excluded: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``metrics.json`` object: per-language means, their macro mean and median, counts and config;
    ``device`` (:func:`~langmix.models.precision.device_description`) when a model ran.

    A group without judged queries has no mean (scoring it 0.0 would pull every macro mean down): it is
    listed under ``excluded_groups`` with the reason, as are the groups in ``excluded``.
    """
    if not scores:
        raise ValueError("no languages to summarize")
    metrics = next(iter(scores.values())).metrics
    excluded_groups = {label: dict(why) for label, why in (excluded or {}).items()}
    excluded_groups.update(
        (lang, {"n_queries": 0, "reason": NO_JUDGED_QUERIES}) for lang, s in scores.items() if not s.n_queries
    )
    languages: dict[str, dict[str, Any]] = {}
    for lang, s in scores.items():
        if not s.n_queries:
            continue
        row: dict[str, Any] = dict(s.mean())
        row["n_queries"] = s.n_queries
        row["n_missing_from_run"] = len(s.missing)
        row["n_run_queries_not_judged"] = len(s.ignored)
        row.update((details or {}).get(lang, {}))
        languages[lang] = row
    if not languages:
        raise LangmixError(f"{benchmark}: no query group has judged queries; nothing to score")
    doc = {
        "benchmark": benchmark,
        "model": dict(model or {"name": (config or {}).get("model", "?")}),
        "semantics": SEMANTICS,
        "metrics": list(metrics),
        "languages": languages,
        "mean": {m: statistics.fmean(languages[lang][m] for lang in languages) for m in metrics},
        "median": {m: statistics.median(languages[lang][m] for lang in languages) for m in metrics},
        "n_languages": len(languages),
        "n_queries": sum(row["n_queries"] for row in languages.values()),
        "excluded_groups": excluded_groups,
        "config": dict(config or {}),
        **({"device": dict(device)} if device else {}),
        "versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return with_header("retrieval", doc)


def write_retrieval_run(
    out_dir: str | Path,
    summary: Mapping[str, Any],
    scores: Mapping[str, RunScores],
    *,
    render: Renderer | None = None,
) -> Path:
    """Write ``per_query.jsonl`` (one line per judged query), the rendered files and ``metrics.json``."""
    lines = []
    for lang, s in scores.items():
        for qid, values in s.per_query.items():
            lines.append(json.dumps({"lang": lang, "qid": qid, **values}, ensure_ascii=False) + "\n")
    return write_run_folder(out_dir, summary, {"per_query.jsonl": "".join(lines)}, render)
