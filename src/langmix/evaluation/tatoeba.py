"""Tatoeba bitext retrieval (SPEC §4.4): X->en and en->X top-1 accuracy per language, and grouped means.

Each of the 112 sets pairs line i of a language with line i of its own English side. A sentence is a query,
the other side of the same set is the pool, and the query is a hit when its translation is the nearest
neighbour by cosine. The English sides differ per language, so each set is scored on its own; every
distinct text (English sentences repeat across sets) is encoded once, through the one
:class:`~langmix.models.encoder.Encoder` (prompt, precision, cache).

Means are macro means over languages: over every language evaluated, over XTREME's 36, over each resource
class of Joshi et al. 2020 and, when the caller names the training languages, over seen and unseen ones.
The groups are declared data (:mod:`langmix.data.languages`), not inferred here. ``langmix evaluate
tatoeba`` calls :func:`run_tatoeba` and :func:`write_tatoeba_run`; a notebook calls
:func:`evaluate_tatoeba` (or :func:`score_embeddings` with vectors made elsewhere).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from langmix.data.benchmarks import TATOEBA, TATOEBA_LANGUAGES
from langmix.data.languages import (
    RESOURCE_CLASS_SOURCE,
    RESOURCE_CLASSES,
    XTREME_TATOEBA,
    resource_class,
    resource_group,
    tatoeba_code,
)
from langmix.data.tatoeba import TatoebaPair, check_languages, load_tatoeba
from langmix.errors import LangmixError
from langmix.evaluation.run_folder import Renderer, with_header, write_run_folder
from langmix.io import library_versions
from langmix.models.encoder import ENCODE_BATCH_SIZE, Encoder, EncodeStats
from langmix.models.precision import DEFAULT_PRECISION, device_description, model_device
from langmix.progress import SILENT, ProgressSink

DIRECTIONS = ("x2en", "en2x")
XTREME_GROUP = "xtreme36"
TIE_BREAKING = (
    "pessimistic: a query is a hit only when its translation scores strictly higher than every candidate "
    "with a different text (a tie counts as a miss); a candidate with the translation's exact text is the "
    "same sentence and counts as the translation"
)


@dataclass
class TatoebaOptions:
    """Everything that changes the numbers of a Tatoeba run (recorded in metrics.json)."""

    languages: list[str] | None = None  # ISO 639-3 (or 639-1) codes; None = all 112
    max_per_language: int | None = None  # the first N lines of each set
    seen_languages: list[str] | None = None  # the model's training languages (ISO 639-1 or 639-3)
    prompt: str = "query"  # the model prompt both sides get: a symmetric task, E5's "query: "
    batch_size: int = ENCODE_BATCH_SIZE
    max_length: int | None = None
    use_cache: bool = True
    precision: str = DEFAULT_PRECISION  # auto | fp32 | bf16 | fp16 (langmix.models.precision)


@dataclass
class TatoebaResult:
    """Per-language rows (``lang``, ``n``, ``x2en``, ``en2x``, group facts) and the grouped means."""

    rows: list[dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    hits: dict[str, dict[str, np.ndarray]]  # lang -> direction -> one bool per line (per_query.npz)
    seen: list[str] | None = None  # the Tatoeba codes counted as seen (None: not given)
    seen_without_set: list[str] = field(default_factory=list)  # training languages with no Tatoeba set


@dataclass
class TatoebaRun:
    result: TatoebaResult
    pairs: list[TatoebaPair]
    options: TatoebaOptions
    encoding: EncodeStats
    fingerprint: str
    timings: dict[str, float] = field(default_factory=dict)
    precision: str = "fp32"
    device: dict[str, object] = field(default_factory=dict)


# -- scoring ------------------------------------------------------------------------------------------------


def top1_hits(
    queries: np.ndarray, candidates: np.ndarray, candidate_texts: Sequence[str] | None = None
) -> np.ndarray:
    """One bool per query: query i's translation (candidate i) is its nearest neighbour by dot product.

    Tie rule (:data:`TIE_BREAKING`): candidate i must score strictly higher than every candidate whose text
    differs from candidate i's; candidates with the same text (given ``candidate_texts``) are the same
    sentence and do not compete with it. Vectors are expected L2-normalised (dot product = cosine).
    """
    n = len(queries)
    if len(candidates) != n:
        raise ValueError(f"{n} queries but {len(candidates)} candidates: line i must translate line i")
    if n == 0:
        return np.zeros(0, dtype=bool)
    scores = np.asarray(queries, dtype=np.float32) @ np.asarray(candidates, dtype=np.float32).T
    gold = scores[np.arange(n), np.arange(n)]
    if candidate_texts is None:
        same = np.eye(n, dtype=bool)
    else:
        _, key = np.unique(np.asarray(candidate_texts, dtype=object), return_inverse=True)
        same = key[None, :] == key[:, None]
    others = np.where(same, -np.inf, scores).max(axis=1)
    return gold > others


def score_pair(
    x_emb: np.ndarray, en_emb: np.ndarray, pair: TatoebaPair | None = None
) -> dict[str, np.ndarray]:
    """Hits of one set in both directions: X->en (X queries, English pool) and en->X."""
    x_texts, en_texts = (pair.sentences, pair.english) if pair is not None else (None, None)
    return {"x2en": top1_hits(x_emb, en_emb, en_texts), "en2x": top1_hits(en_emb, x_emb, x_texts)}


def _mean(rows: Sequence[Mapping[str, Any]], direction: str) -> float:
    return float(np.mean([row[direction] for row in rows]))


def _group(rows: Sequence[Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"n_languages": len(rows), "languages": [row["lang"] for row in rows]}
    out.update({d: _mean(rows, d) for d in DIRECTIONS})
    return {**out, **extra}


def group_means(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Macro means of ``rows`` over: all, XTREME-36 (``complete`` when all 36 are in), each resource class
    present (``class 5`` ... ``class 2``, then ``unknown``), and ``seen`` / ``unseen`` when rows carry a
    ``seen`` flag. Groups with no evaluated language are left out."""
    if not rows:
        raise LangmixError("tatoeba: no language to score")
    groups = {"all": _group(rows)}
    xtreme = [r for r in rows if r["lang"] in XTREME_TATOEBA]
    if xtreme:
        groups[XTREME_GROUP] = _group(xtreme, complete=len(xtreme) == len(XTREME_TATOEBA))
    for label in [f"class {c}" for c in sorted(RESOURCE_CLASSES, reverse=True)] + ["unknown"]:
        members = [r for r in rows if r["resource_group"] == label]
        if members:
            groups[label] = _group(members)
    for label, flag in (("seen", True), ("unseen", False)):
        members = [r for r in rows if r.get("seen") is flag]
        if members:
            groups[label] = _group(members)
    return groups


def seen_codes(training_languages: Iterable[str] | None) -> tuple[list[str] | None, list[str]]:
    """Training languages (ISO 639-1 or 639-3) as Tatoeba codes, and those with no Tatoeba set (English,
    the pivot, is dropped); ``(None, [])`` when not given."""
    if training_languages is None:
        return None, []
    codes = [tatoeba_code(lang.strip()) for lang in training_languages if lang.strip()]
    codes = [c for c in dict.fromkeys(codes) if c != "eng"]
    return [c for c in codes if c in TATOEBA_LANGUAGES], [c for c in codes if c not in TATOEBA_LANGUAGES]


def score_embeddings(
    pairs: Sequence[TatoebaPair],
    x_embs: Sequence[np.ndarray],
    en_embs: Sequence[np.ndarray],
    *,
    seen_languages: Iterable[str] | None = None,
) -> TatoebaResult:
    """Score every set from its vectors (``x_embs[k]`` and ``en_embs[k]`` belong to ``pairs[k]``)."""
    seen, without_set = seen_codes(seen_languages)
    rows, hits = [], {}
    for pair, x_emb, en_emb in zip(pairs, x_embs, en_embs, strict=True):
        per = score_pair(x_emb, en_emb, pair)
        hits[pair.lang] = per
        rows.append(
            {
                "lang": pair.lang,
                "n": len(pair.sentences),
                **{d: float(per[d].mean()) for d in DIRECTIONS},
                "resource_class": resource_class(pair.lang),
                "resource_group": resource_group(pair.lang),
                "xtreme36": pair.lang in XTREME_TATOEBA,
                "seen": None if seen is None else pair.lang in seen,
            }
        )
    return TatoebaResult(rows, group_means(rows), hits, seen, without_set)


# -- encoding and the library API ---------------------------------------------------------------------------


def encode_pairs(
    encoder: Encoder, pairs: Sequence[TatoebaPair], kind: str = "query"
) -> tuple[list[np.ndarray], list[np.ndarray], EncodeStats]:
    """Vectors of every set's two sides, from ONE encode call: each distinct text (English sentences shared
    by several sets included) is encoded once."""
    texts = [t for pair in pairs for t in (*pair.sentences, *pair.english)]
    vectors, stats = encoder.encode(texts, kind, label=f"encoding tatoeba ({len(pairs)} languages)")
    x_embs, en_embs, start = [], [], 0
    for pair in pairs:
        n = len(pair.sentences)
        x_embs.append(vectors[start : start + n])
        en_embs.append(vectors[start + n : start + 2 * n])
        start += 2 * n
    return x_embs, en_embs, stats


def _truncate(pairs: list[TatoebaPair], max_per_language: int | None) -> list[TatoebaPair]:
    if max_per_language is None:
        return pairs
    if max_per_language < 1:
        raise LangmixError(f"--max-per-language must be at least 1, not {max_per_language}")
    m = max_per_language
    return [TatoebaPair(p.lang, p.sentences[:m], p.english[:m]) for p in pairs]


def parse_tatoeba_languages(value: str) -> list[str] | None:
    """A languages spec: None for all 112 (``all``), XTREME's 36 for ``xtreme``, else the listed codes."""
    key = value.strip().lower()
    if key == "all":
        return None
    if key in ("xtreme", "xtreme36", "xtreme-36"):
        return list(XTREME_TATOEBA)
    langs = [x.strip() for x in value.split(",") if x.strip()]
    if not langs:
        raise LangmixError("tatoeba languages: empty; give codes such as deu,cmn, or 'xtreme' or 'all'")
    return langs


def load_pairs(
    langs: Iterable[str] | None, max_per_language: int | None, data_root: str | Path | None
) -> list[TatoebaPair]:
    """The sets of ``langs`` (ISO 639-3 or 639-1; None = all 112), first ``max_per_language`` lines each."""
    codes = check_languages(tatoeba_code(lang) for lang in langs) if langs is not None else None
    return _truncate(load_tatoeba(codes, data_root), max_per_language)


def evaluate_tatoeba(
    model,
    langs: Iterable[str] | None = None,
    *,
    precision: str = DEFAULT_PRECISION,
    batch_size: int = ENCODE_BATCH_SIZE,
    max_per_language: int | None = None,
    seen_languages: Iterable[str] | None = None,
    prompt: str = "query",
    use_cache: bool = True,
    data_root: str | Path | None = None,
    progress: ProgressSink = SILENT,
) -> TatoebaResult:
    """Encode the Tatoeba sets of ``langs`` (default all 112) with ``model`` (any SentenceTransformer, not
    changed) at ``precision`` and score them; ``seen_languages`` adds seen / unseen means.

    Example::

        result = evaluate_tatoeba(load_model("embedded"), ["deu", "cmn"], max_per_language=100)
        result.groups["all"]["x2en"]
    """
    pairs = load_pairs(langs, max_per_language, data_root)
    encoder = Encoder(
        model, batch_size=batch_size, use_cache=use_cache, progress=progress, precision=precision
    )
    x_embs, en_embs, _ = encode_pairs(encoder, pairs, prompt)
    return score_embeddings(pairs, x_embs, en_embs, seen_languages=seen_languages)


def run_tatoeba(
    model,
    options: TatoebaOptions,
    *,
    data_root: str | Path | None = None,
    progress: ProgressSink = SILENT,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> TatoebaRun:
    """Load the sets named in ``options``, encode, score, and time each phase (``langmix evaluate``);
    ``transform`` (e.g. a debiasing projection) maps every vector before scoring."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    pairs = load_pairs(options.languages, options.max_per_language, data_root)
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
    x_embs, en_embs, stats = encode_pairs(encoder, pairs, options.prompt)
    if transform is not None:
        x_embs, en_embs = [transform(v) for v in x_embs], [transform(v) for v in en_embs]
    timings["encode_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    result = score_embeddings(pairs, x_embs, en_embs, seen_languages=options.seen_languages)
    timings["score_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t0
    return TatoebaRun(
        result=result,
        pairs=pairs,
        options=options,
        encoding=stats,
        fingerprint=fingerprint,
        timings={k: round(v, 3) for k, v in timings.items()},
        precision=encoder.precision,
        device=device_description(model_device(model)),
    )


def training_languages(model: str | Path) -> list[str] | None:
    """The languages a model was trained on, from the ``run.json`` that ``langmix train`` wrote next to its
    ``model/`` folder (every language of its training data); None for models without such a record."""
    folder = Path(model).expanduser()
    if not folder.is_dir():  # `embedded` or a Hugging Face id
        return None
    for run_json in (folder.parent / "run.json", folder / "run.json"):
        if run_json.is_file():
            break
    else:
        return None
    try:
        info = json.loads(run_json.read_text(encoding="utf-8"))
        sets = info["data"]["train"]
        langs = [lang for s in sets for lang in s["languages"]]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise LangmixError(f"{run_json}: no training languages in this run record ({exc})") from None
    return list(dict.fromkeys(langs))


# -- the run folder -----------------------------------------------------------------------------------------


def _round(value: float) -> float:
    return round(float(value), 6)


def _rounded(groups: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: {k: _round(v) if k in DIRECTIONS else v for k, v in group.items()}
        for name, group in groups.items()
    }


def metrics_document(run: TatoebaRun, model: Mapping[str, Any]) -> dict[str, Any]:
    """The ``metrics.json`` document of a Tatoeba run; ``model`` needs at least ``name``."""
    res = run.result
    rows = [{**row, **{d: _round(row[d]) for d in DIRECTIONS}} for row in res.rows]
    unknown = [row["lang"] for row in res.rows if row["resource_class"] is None]
    doc = {
        "benchmark": TATOEBA.name,
        "model": {**model, "fingerprint": run.fingerprint, "precision": run.precision},
        "device": run.device,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "options": asdict(run.options),
        "data": {
            "source": f"{TATOEBA.repo}@{TATOEBA.revision}",
            "n_languages": len(run.pairs),
            "n_pairs": sum(len(p.sentences) for p in run.pairs),
        },
        "languages": rows,
        "groups": _rounded(res.groups),
        "seen_languages": res.seen,
        "seen_without_set": res.seen_without_set,
        "resource_classes": {"source": RESOURCE_CLASS_SOURCE, "unknown": unknown},
        "encoding": vars(run.encoding),
        "timings": run.timings,
        "versions": library_versions(),
        "tie_breaking": TIE_BREAKING,
    }
    return with_header("tatoeba", doc)


def per_language_tsv(doc: Mapping[str, Any]) -> str:
    """One line per language: the numbers of ``doc["languages"]`` as a table for spreadsheets."""
    columns = ("lang", "n", "x2en", "en2x", "resource_class", "xtreme36", "seen")
    lines = ["\t".join(columns)]
    for row in doc["languages"]:
        lines.append("\t".join("" if row[c] is None else str(row[c]) for c in columns))
    return "\n".join(lines) + "\n"


def write_tatoeba_run(
    run: TatoebaRun, model: Mapping[str, Any], out_dir: str | Path, *, render: Renderer | None = None
) -> dict[str, Any]:
    """Write ``per_query.npz`` (hits per line and direction, for paired tests), ``per_language.tsv``, what
    ``render`` makes (report.md, the plot) and ``metrics.json`` last."""
    doc = metrics_document(run, model)
    buffer = io.BytesIO()
    arrays = {f"{lang}_{d}": hits[d] for lang, hits in run.result.hits.items() for d in DIRECTIONS}
    np.savez_compressed(buffer, **arrays)
    files = {"per_query.npz": buffer.getvalue(), "per_language.tsv": per_language_tsv(doc)}
    write_run_folder(out_dir, doc, files, render)
    return doc
