"""Training-free removal of language identity from a model's embeddings (LIR, Yang et al. 2021).

A multilingual encoder places each language around its own mean, so a question prefers answers in its own
language. The spread of the per-language means is mostly language identity, not meaning: estimate the
directions it spans from unlabelled text in each language and project them out.

1. From a named source (:func:`parse_source`: Tatoeba, the training data, a folder of ``<lang>.txt`` or,
   labelled *not fair*, the LAReQA evaluation pool), take ``per_language`` distinct texts per language
   (a seeded sample) and encode them with the model's passage prompt.
2. Average each language's L2-normalised embeddings, centre the means (subtract their grand mean) and take
   the top ``k`` right singular vectors ``U`` (default ``k`` = languages − 1, all the centred means span).
3. ``P = I − UᵀU``; a vector ``e`` becomes ``normalise(P e)``.

:func:`save_debiased` writes this as a plain sentence-transformers folder, the original modules up to its
final ``Normalize``, then a bias-free identity-activation ``Dense`` with weight ``P``, then ``Normalize``:
``SentenceTransformer(DIR)`` anywhere gives ``normalise(P e)``, because ``P`` is linear and normalising
before or after scaling is the same. A model without a final ``Normalize`` gets no ``Normalize`` either,
so it still returns ``P e`` unnormalised, as it returned ``e``. What was estimated, on what, is recorded in
``DIR/langmix_debias.json``.

:func:`subtract_group_means` is the oracle variant (each text's own-language mean subtracted), an analysis
that needs every text's language and so cannot be shipped as a model.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from langmix.data.benchmarks import LAREQA_BENCHMARKS, XQUAD_R_LANGUAGES
from langmix.data.inputs import check_language_code, iter_lines
from langmix.data.languages import tatoeba_code
from langmix.data.tatoeba import read_tatoeba
from langmix.errors import DataError, LangmixError
from langmix.io import library_versions, replaceable_folder, write_json
from langmix.models.cache import model_fingerprint
from langmix.models.encoder import ENCODE_BATCH_SIZE, Encoder, l2_normalise
from langmix.models.precision import DEFAULT_PRECISION
from langmix.progress import SILENT, ProgressSink

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

METADATA = "langmix_debias.json"
SOURCE_HELP = "tatoeba, training:<data>, folder:<dir> or lareqa:<xquad-r|mlqa-r>"
UNFAIR = "not fair: evaluation text"
DEGENERATE = 1e-6  # a singular value below this share of the largest spans no real direction


# -- the math ---------------------------------------------------------------------------------------------
def language_directions(means: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(directions, singular_values)``: the top ``k`` (default: rows − 1) orthonormal directions, as rows,
    spanned by the rows of ``means`` after centring, and all singular values of the centred means."""
    means = np.asarray(means, dtype=np.float64)
    n, dim = means.shape
    k = n - 1 if k is None else k
    if n < 2:
        raise LangmixError("debias needs at least 2 languages: one language has no language direction")
    if not 1 <= k <= min(n - 1, dim):
        raise LangmixError(
            f"k must be between 1 and {min(n - 1, dim)} for {n} languages: their centred means span at most "
            f"{n - 1} directions"
        )
    _, singular, vt = np.linalg.svd(means - means.mean(axis=0), full_matrices=False)
    if singular[k - 1] <= DEGENERATE * max(singular[0], np.finfo(float).tiny):
        real = int(np.sum(singular > DEGENERATE * singular[0]))
        raise LangmixError(
            f"the language means span only {real} direction(s) (some languages have the same mean); "
            f"use k <= {real}"
        )
    return vt[:k], singular


def projection_matrix(directions: np.ndarray) -> np.ndarray:
    """``I − UᵀU`` for orthonormal rows ``U``: removes exactly their span and keeps its complement."""
    directions = np.asarray(directions, dtype=np.float64)
    return np.eye(directions.shape[1]) - directions.T @ directions


def project_out(vectors: np.ndarray, directions: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """``vectors`` (rows) with the span of ``directions`` removed, L2-normalised again unless told not to."""
    vectors = np.asarray(vectors, dtype=np.float64)
    directions = np.asarray(directions, dtype=np.float64)
    out = (vectors - (vectors @ directions.T) @ directions).astype(np.float32)
    return l2_normalise(out) if normalize else out


def group_means(vectors: np.ndarray, groups: Sequence[int] | np.ndarray) -> np.ndarray:
    """Row ``g``: the mean of the rows labelled ``g`` (labels are ints >= 0; a label without rows: zeros)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    if len(groups) != len(vectors):
        raise LangmixError(f"{len(vectors)} vectors but {len(groups)} group labels")
    counts = np.bincount(groups, minlength=groups.max(initial=-1) + 1)
    sums = np.zeros((len(counts), vectors.shape[1]))
    np.add.at(sums, groups, vectors)
    return sums / np.maximum(counts, 1)[:, None]


def subtract_group_means(
    vectors: np.ndarray, groups: Sequence[int] | np.ndarray, means: np.ndarray | None = None
) -> np.ndarray:
    """Each row minus ``means[its group]`` (default: its own group's mean, :func:`group_means`),
    L2-normalised again: the oracle-language variant, which needs every text's language, so it is an
    analysis, not something a model can do."""
    groups = np.asarray(groups, dtype=np.int64)
    if len(groups) != len(vectors):
        raise LangmixError(f"{len(vectors)} vectors but {len(groups)} group labels")
    means = group_means(vectors, groups) if means is None else np.asarray(means, dtype=np.float64)
    return l2_normalise((np.asarray(vectors, dtype=np.float64) - means[groups]).astype(np.float32))


# -- where the text comes from ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """Unlabelled text per language: ``kind`` tatoeba, training, folder or lareqa; ``value`` its argument."""

    kind: str
    value: str | None = None

    @property
    def label(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"

    @property
    def fair(self) -> bool:
        """False for the evaluation pool: a model debiased on the text it is scored on is not comparable."""
        return self.kind != "lareqa"

    @property
    def note(self) -> str | None:
        return None if self.fair else UNFAIR

    def is_evaluation_text(self, benchmark: str) -> bool:
        """True when ``benchmark`` scores on this source's own text (``lareqa:X`` and ``training:X`` for X,
        ``tatoeba`` for Tatoeba): a twin debiased on it would be scored on the sentences its projection
        came from."""
        if self.kind == "tatoeba":
            return benchmark == "tatoeba"
        return self.kind in ("lareqa", "training") and self.value == benchmark

    def texts(
        self, languages: Sequence[str] | None = None, data_root: str | Path | None = None
    ) -> dict[str, list[str]]:
        """``language -> texts`` for ``languages`` (default: XQuAD-R's 11 for Tatoeba, else all the source
        has), in that order; a language the source lacks is a one-line error."""
        langs = list(dict.fromkeys(languages)) if languages else None
        if self.kind == "tatoeba":
            return _tatoeba_texts(langs or list(XQUAD_R_LANGUAGES), data_root)
        if self.kind == "training":
            return _training_texts(str(self.value), langs, data_root)
        if self.kind == "folder":
            return _folder_texts(Path(str(self.value)), langs)
        return _lareqa_texts(str(self.value), langs, data_root)


def parse_source(spec: str) -> Source:
    """``tatoeba``, ``training:<--data spec>``, ``folder:<dir>`` or ``lareqa:<xquad-r|mlqa-r>``."""
    kind, sep, value = (spec or "").strip().partition(":")
    if kind == "tatoeba" and not sep:
        return Source("tatoeba")
    if kind in ("training", "folder") and value:
        return Source(kind, value)
    if kind == "lareqa" and value in LAREQA_BENCHMARKS:
        return Source(kind, value)
    raise LangmixError(f"unknown estimation source {spec!r}; use {SOURCE_HELP}")


def _tatoeba_texts(languages: list[str], data_root: str | Path | None) -> dict[str, list[str]]:
    """Each language's Tatoeba sentences; English (whose sets are all "x-eng") pools the English sides of
    the other languages' sets."""
    others = [lang for lang in languages if tatoeba_code(lang) != "eng"]
    if not others:
        raise LangmixError("tatoeba: English text comes from the other languages' sets; add a language")
    pairs = {lang: read_tatoeba(tatoeba_code(lang), data_root) for lang in others}
    english = [s for pair in pairs.values() for s in pair.english]
    return {lang: list(pairs[lang].sentences) if lang in pairs else english for lang in languages}


def _training_texts(
    spec: str, languages: list[str] | None, data_root: str | Path | None
) -> dict[str, list[str]]:
    """The positive passages of a training dataset (any ``--data`` value), per language."""
    from langmix.data.parallel.load import load_parallel

    dataset = load_parallel(spec, languages=languages, data_root=data_root)
    if languages:
        dataset = dataset.select_languages(languages)
    langs = languages or list(dataset.languages)
    return {lang: [i.texts[lang].positive for i in dataset.items if lang in i.texts] for lang in langs}


def read_sentences(path: Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped (blank lines are skipped, not an error)."""
    if not path.is_file():
        raise DataError(path, "file not found (expected <lang>.txt with one sentence per line)")
    lines = [text.strip() for _, text in iter_lines(path) if text.strip()]
    if not lines:
        raise DataError(path, "no sentences (expected one sentence per line)")
    return lines


def _folder_texts(folder: Path, languages: list[str] | None) -> dict[str, list[str]]:
    if not folder.is_dir():
        raise DataError(folder, "folder not found (expected <lang>.txt files, one sentence per line)")
    if languages is None:
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise DataError(folder, "no <lang>.txt files in the folder")
        languages = [path.stem for path in files]
    paths = {check_language_code(lang, folder / f"{lang}.txt"): folder / f"{lang}.txt" for lang in languages}
    return {lang: read_sentences(path) for lang, path in paths.items()}


def _lareqa_texts(
    name: str, languages: list[str] | None, data_root: str | Path | None
) -> dict[str, list[str]]:
    """The evaluation pool's candidate sentences per language (labelled not fair wherever recorded)."""
    from langmix.data.lareqa import load_lareqa

    data = load_lareqa(name, languages=languages, data_root=data_root, max_questions=1)
    return {
        lang: [t for t, li in zip(data.c_text, data.c_lang, strict=True) if li == i]
        for i, lang in enumerate(data.languages)
    }


def sample_texts(texts: Sequence[str], n: int, seed: int, lang: str) -> list[str]:
    """Up to ``n`` distinct non-blank texts, a seeded sample (the same for a given seed and language
    whatever else is asked), in their original order."""
    unique = list(dict.fromkeys(t.strip() for t in texts if t.strip()))
    if len(unique) <= n:
        return unique
    keep = sorted(random.Random(f"{seed}:{lang}").sample(range(len(unique)), n))
    return [unique[i] for i in keep]


# -- estimation -------------------------------------------------------------------------------------------
@dataclass
class LanguageSubspace:
    """The estimated language-identity directions and what they came from."""

    languages: tuple[str, ...]
    directions: np.ndarray  # (k, dim), orthonormal rows
    singular_values: np.ndarray  # all of them, of the centred per-language means
    means: np.ndarray  # (languages, dim): mean normalised embedding per language
    counts: dict[str, int] = field(default_factory=dict)  # texts averaged per language

    @property
    def k(self) -> int:
        return len(self.directions)

    @property
    def dim(self) -> int:
        return self.directions.shape[1]

    def projection(self) -> np.ndarray:
        return projection_matrix(self.directions)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """``normalise(P v)`` for each row ``v``: what the saved model outputs for a normalised model."""
        return project_out(vectors, self.directions)


def estimate_subspace(
    encoder: Encoder,
    texts: Mapping[str, Sequence[str]],
    *,
    k: int | None = None,
    per_language: int = 500,
    seed: int = 0,
    kind: str = "passage",
) -> LanguageSubspace:
    """Encode a seeded sample of ``per_language`` texts per language (``kind``'s prompt) and estimate the
    ``k`` (default languages − 1) directions spanned by the centred per-language means."""
    if per_language < 1:
        raise LangmixError("per_language must be at least 1")
    samples = {lang: sample_texts(t, per_language, seed, lang) for lang, t in texts.items()}
    empty = [lang for lang, s in samples.items() if not s]
    if empty:
        raise LangmixError(f"no text for language(s) {', '.join(empty)}")
    flat = [t for s in samples.values() for t in s]
    label = f"encoding {len(flat):,} texts in {len(samples)} languages"
    vectors, _ = encoder.encode(flat, kind, label=label)
    vectors = l2_normalise(vectors)  # the normalised embeddings whatever the encoder's own setting
    bounds = np.cumsum([0, *(len(s) for s in samples.values())])
    means = np.stack([vectors[a:b].astype(np.float64).mean(axis=0) for a, b in pairwise(bounds)])
    directions, singular = language_directions(means, k)
    return LanguageSubspace(
        languages=tuple(samples),
        directions=directions,
        singular_values=singular,
        means=means,
        counts={lang: len(s) for lang, s in samples.items()},
    )


# -- the saved model --------------------------------------------------------------------------------------
def ends_normalized(model: SentenceTransformer) -> bool:
    """True when the model's last module is ``Normalize`` (its outputs have unit length)."""
    from sentence_transformers.sentence_transformer.modules import Normalize

    modules = list(model)
    return bool(modules) and isinstance(modules[-1], Normalize)


def debiased_model(model: SentenceTransformer, directions: np.ndarray) -> SentenceTransformer:
    """A SentenceTransformer sharing ``model``'s modules (not copied, not changed) with ``P`` appended as a
    bias-free identity ``Dense``: before a final ``Normalize`` when the model ends with one, else last."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize

    if getattr(model, "truncate_dim", None):
        raise LangmixError("debias needs the model's full embeddings; load it without truncate_dim")
    modules = list(model)
    normalizes = ends_normalized(model)
    kept = modules[:-1] if normalizes else modules
    dim = directions.shape[1]
    weight = torch.tensor(projection_matrix(directions), dtype=torch.float32)
    dense = Dense(dim, dim, bias=False, activation_function=torch.nn.Identity(), init_weight=weight)
    tail = [dense, Normalize()] if normalizes else [dense]
    return SentenceTransformer(
        modules=[*kept, *tail],
        device=str(model.device),
        prompts=dict(model.prompts or {}),
        default_prompt_name=model.default_prompt_name,
        similarity_fn_name=model.similarity_fn_name,
    )


def check_out_dir(out: str | Path, overwrite: bool) -> Path:
    """``out``, if it may be written: missing, empty, or (with ``overwrite``) an earlier debias folder."""
    return replaceable_folder(out, overwrite, METADATA, "langmix debias")


def save_debiased(
    model: SentenceTransformer,
    subspace: LanguageSubspace,
    out: str | Path,
    metadata: Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> Path:
    """Write the debiased model and ``metadata`` (as ``langmix_debias.json``) to ``out``.

    Built in a temporary sibling folder and renamed into place, so ``out`` is either the old folder or the
    complete new one, never half of one."""
    out = check_out_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    old = out.parent / f"{work.name}.old"
    try:
        debiased_model(model, subspace.directions).save(str(work), create_model_card=False)
        write_json(work / METADATA, dict(metadata))
        if out.exists():
            os.replace(out, old)
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return out


# -- the whole step ---------------------------------------------------------------------------------------
@dataclass
class DebiasOptions:
    """Everything that changes the estimated subspace (recorded in ``langmix_debias.json``)."""

    source: str = "tatoeba"  # see parse_source
    languages: list[str] | None = None  # default: XQuAD-R's 11 for Tatoeba, else every language of the source
    k: int | None = None  # default: languages − 1
    per_language: int = 500
    seed: int = 0
    kind: str = "passage"  # whose prompt encodes the estimation text
    precision: str = DEFAULT_PRECISION
    batch_size: int = ENCODE_BATCH_SIZE
    use_cache: bool = True


@dataclass
class DebiasResult:
    subspace: LanguageSubspace
    source: Source
    out: Path
    metadata: dict[str, Any]


def _metadata(
    name: str,
    fingerprint: str,
    options: DebiasOptions,
    source: Source,
    subspace: LanguageSubspace,
    precision: str,
    normalizes: bool,
) -> dict[str, Any]:
    versions = library_versions()
    return {
        "kind": "langmix-debias",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source_model": {"name": name, "fingerprint": fingerprint},
        "estimation": {
            "source": source.label,
            "fair": source.fair,
            "note": source.note,
            "languages": list(subspace.languages),
            "per_language": options.per_language,
            "texts": subspace.counts,
            "seed": options.seed,
            "prompt": options.kind,
            "precision": precision,
        },
        "k": subspace.k,
        "singular_values": [round(float(s), 6) for s in subspace.singular_values],
        "projection": {"dim": subspace.dim, "normalize_after": normalizes},
        "langmix_version": versions.get("langmix"),
        "versions": versions,
    }


def debias(
    model: str | SentenceTransformer,
    out: str | Path,
    options: DebiasOptions | None = None,
    *,
    model_name: str | None = None,
    data_root: str | Path | None = None,
    overwrite: bool = False,
    progress: ProgressSink = SILENT,
) -> DebiasResult:
    """Estimate ``model``'s language subspace from ``options.source`` and save the debiased model to ``out``.

    ``model``: a ``--model`` value (``embedded``, a folder, a hub id) or a loaded SentenceTransformer
    (named ``model_name`` in the record). ``out`` is checked before any work is done.

    Example::

        result = debias("embedded", "runs/debias/e5-small", DebiasOptions(k=10))
        SentenceTransformer("runs/debias/e5-small").encode(["query: hello"])
    """
    from langmix.models.loading import load_model

    options = options or DebiasOptions()
    source = parse_source(options.source)
    check_out_dir(out, overwrite)
    texts = source.texts(options.languages, data_root)
    if isinstance(model, str):
        model_name = model_name or model
        model = load_model(model)
    fingerprint = model_fingerprint(model)
    encoder = Encoder(
        model,
        batch_size=options.batch_size,
        use_cache=options.use_cache,
        fingerprint=fingerprint,
        progress=progress,
        precision=options.precision,
    )
    subspace = estimate_subspace(
        encoder, texts, k=options.k, per_language=options.per_language, seed=options.seed, kind=options.kind
    )
    name = model_name or "(in-memory model)"
    meta = _metadata(name, fingerprint, options, source, subspace, encoder.precision, ends_normalized(model))
    path = save_debiased(model, subspace, out, meta, overwrite=overwrite)
    return DebiasResult(subspace=subspace, source=source, out=path, metadata=meta)


__all__ = [
    "METADATA",
    "DebiasOptions",
    "DebiasResult",
    "LanguageSubspace",
    "Source",
    "check_out_dir",
    "debias",
    "debiased_model",
    "ends_normalized",
    "estimate_subspace",
    "group_means",
    "language_directions",
    "parse_source",
    "project_out",
    "projection_matrix",
    "read_sentences",
    "sample_texts",
    "save_debiased",
    "subtract_group_means",
]
