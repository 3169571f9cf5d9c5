"""The whole retrieval evaluation: encode the corpus (resumable shards), index it, search the queries, write
TREC runs, score them (trec_eval ``-c``) and write the report. Used by ``langmix evaluate``.

Work folder (kept between runs; an interrupted encoding resumes, a finished index is reused)::

    <work>/<pool>/embeddings/      shards + manifest (langmix.retrieval.shards)
    <work>/<pool>/index-<kind>/    faiss index + ids (langmix.retrieval.index)

Output folder::

    runs/<lang>.trec    metrics.json    report.md    per_query.jsonl

A *pool* is one corpus searched by a group of queries: MIRACL has one pool per language (monolingual),
a BEIR folder has one pool whose queries are scored per ``lang`` field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from langmix.data.beir import Passage, Qrels, Queries, iter_corpus, load_beir
from langmix.data.miracl import (
    MIRACL_CORPUS_SIZES,
    MIRACL_HUB,
    check_languages,
    iter_miracl_corpus,
    load_miracl_topics,
)
from langmix.errors import LangmixError
from langmix.evaluation.trec import DEFAULT_METRICS, RunScores, evaluate_run, parse_metric, read_trec_run
from langmix.reports.retrieval import summarize, write_retrieval_report
from langmix.retrieval.encode import Encoder, encode_corpus
from langmix.retrieval.index import IndexConfig, SearchIndex, build_index
from langmix.retrieval.search import Searcher, results_to_run, write_results
from langmix.retrieval.shards import DEFAULT_SHARD_SIZE

# progress(task, done, total): one callback for every stage; the CLI turns it into rich progress bars.
Progress = Callable[[str, int, int | None], None]


@dataclass
class RetrievalSettings:
    """Options of an evaluation run (all recorded in ``metrics.json``)."""

    k: int = 100
    metrics: tuple[str, ...] = DEFAULT_METRICS
    index: IndexConfig = field(default_factory=IndexConfig)
    shard_size: int = DEFAULT_SHARD_SIZE
    batch_size: int = 64
    dtype: str = "float16"
    devices: tuple[str, ...] | None = None
    query_prompt: str | None = None
    passage_prompt: str | None = None
    overwrite: bool = False
    tag: str = "langmix"

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


@dataclass
class Pool:
    """One corpus and the query groups searched in it."""

    name: str
    passages: Callable[[], Iterable[Passage]] | None  # a fresh stream each call; None: score given runs only
    groups: dict[str, tuple[Queries, Qrels]]  # label (language) -> queries and qrels
    total: int | None = None  # passages, for the progress bar
    source: str = ""


def _noop(task: str, done: int, total: int | None) -> None:
    return None


def prepare_index(
    model: Encoder,
    passages: Callable[[], Iterable[Passage]],
    work_dir: str | Path,
    settings: RetrievalSettings,
    *,
    model_name: str,
    model_meta: Mapping[str, Any] | None = None,
    source: str = "corpus",
    total: int | None = None,
    progress: Progress = _noop,
    label: str = "",
) -> SearchIndex:
    """Encode (or resume encoding) the corpus into ``work_dir/embeddings`` and index it; reuse an index that
    was built from the same finished embeddings with the same settings."""
    work_dir = Path(work_dir)
    emb_dir, idx_dir = work_dir / "embeddings", work_dir / f"index-{settings.index.kind}"
    meta = {
        "model": model_name,
        **(model_meta or {}),
        "max_seq_length": getattr(model, "max_seq_length", None),
        "corpus": source,
    }
    task = f"encode {label}".strip()
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
        on_progress=lambda done: progress(task, done, total),
    )
    embeddings = result.embeddings
    if (idx_dir / "index.json").is_file() and not settings.overwrite and result.n_encoded == 0:
        index = SearchIndex.load(idx_dir)
        wanted = asdict(settings.index)
        built = {key: index.info["config"].get(key) for key in wanted}
        if settings.index.kind == "ivf" and settings.index.nlist is None:
            built["nlist"] = None
        if index.info.get("meta") == embeddings.meta and len(index) == len(embeddings) and built == wanted:
            return index
    task = f"index {label}".strip()
    index = build_index(embeddings, settings.index, on_progress=lambda stage, d, t: progress(task, d, t))
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


def evaluate_pools(
    pools: Sequence[Pool],
    out_dir: str | Path,
    *,
    model: Encoder | None,
    model_name: str,
    benchmark: str,
    model_meta: Mapping[str, Any] | None = None,
    settings: RetrievalSettings | None = None,
    work_dir: str | Path | None = None,
    runs: Mapping[str, str | Path] | None = None,
    progress: Progress = _noop,
    extra_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Search every pool (or read ``runs``, keyed by group label), score each group, write the report.

    ``model_meta`` (e.g. a weight fingerprint) is recorded with the embeddings: a resumed encoding or a reused
    index with other facts is refused or rebuilt. Returns the ``metrics.json`` object.
    """
    settings = settings or RetrievalSettings()
    out_dir = Path(out_dir)
    work_dir = Path(work_dir) if work_dir is not None else out_dir / "work"
    scores: dict[str, RunScores] = {}
    details: dict[str, dict[str, Any]] = {}
    for pool in pools:
        searcher = None
        if runs is None:
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
            searcher = Searcher(
                index, model, query_prompt=settings.query_prompt, batch_size=settings.batch_size
            )
        for label, (queries, qrels) in pool.groups.items():
            if searcher is not None:
                task = f"search {label}"
                n_queries = len(queries)
                progress(task, 0, n_queries)
                results = searcher.search_many(
                    queries, settings.k, on_progress=lambda d, t=task, n=n_queries: progress(t, d, n)
                )
                write_results(out_dir / "runs" / f"{label}.trec", results, "trec", settings.tag)
                run = results_to_run(results)
                details[label] = {
                    "qrels_docs_not_in_corpus": _unknown_docs(searcher.index, qrels),
                    "corpus_passages": len(searcher.index),
                    "index": searcher.index.kind,
                }
            else:
                assert runs is not None
                if label not in runs:
                    raise LangmixError(f"no run file given for {label}")
                run = read_trec_run(runs[label])
                details[label] = {"run_file": str(runs[label])}
            scores[label] = evaluate_run(qrels, run, settings.metrics)
    config = {"model": model_name, **(model_meta or {}), **settings.as_dict(), **(extra_config or {})}
    summary = summarize(scores, benchmark=benchmark, details=details, config=config)
    write_retrieval_report(out_dir, summary, scores)
    return summary


def miracl_pools(
    languages: Sequence[str] | None,
    *,
    corpus: str | Path | None = MIRACL_HUB,
    revision: str | None = None,
    data_root: str | Path | None = None,
) -> list[Pool]:
    """One pool per MIRACL language. ``corpus``: ``hf://datasets/miracl/miracl-corpus`` (default, needs a
    network), a local folder in the hub's layout (``miracl-corpus-v1.0-<lang>/docs-*.jsonl[.gz]``), a
    path with ``{lang}`` (a ``corpus.jsonl`` or BEIR folder per language), or None (score run files only)."""
    pools = []
    for lang in check_languages(languages):
        topics = load_miracl_topics(lang, data_root)
        factory: Callable[[], Iterable[Passage]] | None
        if corpus is None:
            factory, total, source = None, None, ""
        elif "{lang}" in str(corpus):
            path = Path(str(corpus).format(lang=lang))
            factory, total, source = (lambda p=path, lg=lang: iter_corpus(p, lang=lg)), None, str(path)
        else:
            factory = lambda lg=lang: iter_miracl_corpus(lg, source=corpus, revision=revision)  # noqa: E731
            total = MIRACL_CORPUS_SIZES.get(lang) if str(corpus).startswith("hf://") else None
            source = f"{corpus}{'@' + revision if revision else ''}:{lang}"
        pools.append(Pool(lang, factory, {lang: (topics.queries, topics.qrels)}, total, source))
    return pools


def beir_pool(root: str | Path, split: str = "test", *, by_language: bool = True) -> Pool:
    """A BEIR folder as one pool; queries are grouped by their ``lang`` field (``all`` when absent)."""
    data = load_beir(root, split)
    groups: dict[str, tuple[Queries, Qrels]] = {}
    split_queries = data.queries.by_language() if by_language else {None: data.queries}
    for lang, queries in split_queries.items():
        label = lang or "all"
        groups[label] = (queries, data.qrels.subset(queries.ids))
    judged_without_query = [q for q in data.qrels.judgments if q not in set(data.queries.ids)]
    if judged_without_query:
        # under -c they would count as 0 but belong to no language: say so rather than guess
        raise LangmixError(
            f"{root}: {len(judged_without_query)} judged queries of split {split!r} are not in "
            f"queries.jsonl, e.g. {judged_without_query[0]!r}"
        )
    return Pool(Path(root).name or "beir", lambda: data.iter_corpus(), groups, None, str(data.corpus_path))
