"""The one run-folder contract of every evaluation (LAReQA, MIRACL, BEIR, Tatoeba).

A run folder holds ``metrics.json`` (every number, written last: its presence marks a finished run), the
per-query scores, and files rendered from ``metrics.json`` alone (``report.md``, plots) by
:mod:`langmix.reports`. Every ``metrics.json`` starts with the same header, so tools that read runs
(``langmix compare``, experiment summaries) dispatch on it instead of guessing from the fields::

    kind       "lareqa" | "retrieval" | "tatoeba"
    benchmark  e.g. "xquad-r", "miracl-dev", "beir:<folder>:<split>", "tatoeba"
    model      {"name": ..., "fingerprint": ..., "precision": "fp32" | "bf16" | "fp16", ...}
    headline   the main numbers as a flat dict (LAReQA: mo_map, ..., rank_distance; retrieval: the macro
               mean over languages of each metric, e.g. nDCG@10, Recall@100; Tatoeba: x2en / en2x
               accuracy over all languages evaluated, xtreme36_*, seen_* / unseen_* when known)

The kind-specific fields follow the header unchanged, with ``device`` (what ran the model:
:func:`langmix.models.precision.device_description`) wherever a model ran. Folders written before the
header existed are read with the header filled in from their fields (:func:`load_run`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from langmix.errors import LangmixError
from langmix.io import write_atomic, write_json

RUN_KINDS = ("lareqa", "retrieval", "tatoeba")
HEADER = ("kind", "benchmark", "model", "headline")
LAREQA_SETTINGS = ("mo", "cr", "mul")

# the LAReQA numbers every comparison shows (compare, experiment summaries): key, label
LAREQA_COLUMNS = (
    ("mo_map", "Mo. mAP"),
    ("cr_map", "Cr. mAP"),
    ("mul_map", "Mul. mAP"),
    ("mul_r@1", "Mul. R@1"),
    ("mul_r@10", "Mul. R@10"),
    ("rank_distance", "rank dist."),
)

# the language-bias numbers shown next to them (SPEC §4.3; runs written before they existed have none)
LAREQA_BIAS_COLUMNS = (
    ("own@10", "own@10"),
    ("own@10_ratio", "own@10 ÷ unbiased"),
    ("max_rank", "Max@R"),
    ("complete@10", "C@10"),
    ("complete@20", "C@20"),
)

# files rendered from a finished metrics document: {file name: content}; see langmix.reports
Renderer = Callable[[dict], Mapping[str, str | bytes]]


def lareqa_headline(doc: Mapping[str, Any]) -> dict[str, float]:
    """The paper's headline numbers of a LAReQA run (Table 1 mAP and R@k, Table 2 rank distance)."""
    s = doc["summary"]
    out = {f"{key}_map": s[key]["map"]["mean"] for key in LAREQA_SETTINGS}
    out.update({f"{key}_r@1": s[key]["r@1"]["mean"] for key in LAREQA_SETTINGS})
    out.update({f"{key}_r@10": s[key]["r@10"]["mean"] for key in LAREQA_SETTINGS})
    out["rank_distance"] = s["mul"]["rank_distance"]["mean"]
    return out


def lareqa_bias(doc: Mapping[str, Any]) -> dict[str, float] | None:
    """Macro means of a LAReQA run's bias numbers (``LAREQA_BIAS_COLUMNS`` keys); None for runs without
    them. Kept out of ``headline`` so runs written before the bias metrics still compare."""
    bias = doc.get("bias")
    if not bias:
        return None
    return {key: bias[key]["mean"] for key, _ in LAREQA_BIAS_COLUMNS}


# seen / unseen query-language means of a LAReQA run whose model recorded its training languages
LAREQA_GROUP_COLUMNS = tuple(
    (f"{group}_{key}", f"{group} {label}")
    for group in ("seen", "unseen")
    for key, label in (("mo_map", "Mo."), ("cr_map", "Cr."), ("mul_map", "Mul."), ("rank_distance", "rank d"))
)


def lareqa_groups(doc: Mapping[str, Any]) -> dict[str, float]:
    """Mo./Cr./Mul. mAP and rank distance averaged over the query languages seen in training and over the
    unseen ones (the same macro mean as the headline, over fewer languages); empty when the model recorded
    no training languages, and a group without languages is left out."""
    from langmix.data.languages import tatoeba_code  # one code space for "en" / "eng" / "zh" / "cmn"

    trained = (doc.get("model") or {}).get("training_languages")
    if trained is None:
        return {}
    codes = {tatoeba_code(lang) for lang in trained}
    s, langs = doc["summary"], doc["matrix"]["languages"]
    values = {
        "mo_map": s["mo"]["map"],
        "cr_map": s["cr"]["map"],
        "mul_map": s["mul"]["map"],
        "rank_distance": s["mul"]["rank_distance"],
    }
    out = {}
    for group, keep in (("seen", True), ("unseen", False)):
        members = [x for x in langs if (tatoeba_code(x) in codes) is keep]
        for key, per_lang in values.items():
            present = [per_lang[x] for x in members if per_lang.get(x) is not None]
            if present:
                out[f"{group}_{key}"] = sum(present) / len(present)
    return out


def retrieval_headline(doc: Mapping[str, Any]) -> dict[str, float]:
    """Each metric's macro mean over the languages (or query groups) of a MIRACL / BEIR run."""
    return {m: doc["mean"][m] for m in doc["metrics"]}


def tatoeba_headline(doc: Mapping[str, Any]) -> dict[str, float]:
    """A Tatoeba run's mean X->en / en->X accuracy over all its languages, over XTREME's 36 when all were
    evaluated, and over seen / unseen languages when the training languages were given."""
    groups = doc["groups"]
    out = {}
    for group, prefix in (("all", ""), ("xtreme36", "xtreme36_"), ("seen", "seen_"), ("unseen", "unseen_")):
        values = groups.get(group)
        if values and values.get("complete", True):
            out.update({f"{prefix}{d}": values[d] for d in ("x2en", "en2x")})
    return out


def run_kind(doc: Mapping[str, Any]) -> str:
    """The run's kind: its ``kind`` field, or (older folders) the kind its fields show."""
    if "kind" in doc:
        return doc["kind"]
    if "summary" in doc and "matrix" in doc:
        return "lareqa"
    if "languages" in doc and "metrics" in doc:
        return "retrieval"
    raise LangmixError("not a langmix run: metrics.json has no 'kind' field")


def headline(doc: Mapping[str, Any]) -> dict[str, float]:
    """The main numbers of any run, recomputed from its fields (the ``headline`` field holds the same)."""
    kind = run_kind(doc)
    if kind == "tatoeba":
        return tatoeba_headline(doc)
    return lareqa_headline(doc) if kind == "lareqa" else retrieval_headline(doc)


def with_header(kind: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` with the common header first (``benchmark`` and ``model`` must be in it already)."""
    if kind not in RUN_KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    body = {k: v for k, v in doc.items() if k not in HEADER}
    head = {"kind": kind, "benchmark": doc["benchmark"], "model": doc["model"]}
    return {**head, "headline": headline({**doc, "kind": kind}), **body}


def ran_on(doc: Mapping[str, Any]) -> str | None:
    """``"bf16 on AMD EPYC (native bf16)"``: the precision and device a run's model ran at, for reports;
    None for runs that ran no model (scored run files) or predate the record."""
    precision = (doc.get("model") or {}).get("precision")
    device = doc.get("device") or {}
    if not precision and not device:
        return None
    where = device.get("gpu") or device.get("cpu") or device.get("device") or "an unrecorded device"
    native = "native bf16" if device.get("bf16_native") else "no native bf16"
    return f"{precision or 'unrecorded precision'} on {where} ({native})"


def _model_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    model = doc.get("model") or (doc.get("config") or {}).get("model")
    if isinstance(model, Mapping):
        return dict(model)
    return {"name": model if model else "?"}


def load_run(run: str | Path) -> dict[str, Any]:
    """Read a run folder's (or a metrics.json file's) document, header filled in for older folders."""
    path = Path(run)
    path = path / "metrics.json" if path.is_dir() else path
    if not path.is_file():
        raise LangmixError(f"{path}: no metrics.json (is this a finished langmix evaluate run?)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LangmixError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or "benchmark" not in doc:
        raise LangmixError(f"{path}: not a langmix run (no 'benchmark' field)")
    try:
        kind = run_kind(doc)
        if "headline" in doc and "model" in doc and "kind" in doc:
            return doc
        return with_header(kind, {**doc, "model": _model_of(doc)})
    except (KeyError, TypeError) as exc:
        raise LangmixError(f"{path}: metrics.json lacks the field {exc} of a {doc.get('kind')} run") from None
    except LangmixError as exc:
        raise LangmixError(f"{path}: {exc}") from None


def write_run_folder(
    out_dir: str | Path,
    doc: Mapping[str, Any],
    files: Mapping[str, str | bytes] | None = None,
    render: Renderer | None = None,
) -> Path:
    """Write ``files`` (per-query scores), then what ``render(doc)`` makes, then ``metrics.json`` last."""
    out = Path(out_dir)
    for name, content in {**(files or {}), **(render(dict(doc)) if render else {})}.items():
        write_atomic(out / name, content)
    return write_json(out / "metrics.json", doc)
