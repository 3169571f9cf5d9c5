"""The one encoder: every text langmix embeds (LAReQA, corpora, search queries) goes through :class:`Encoder`.

It is the only place that resolves prompts (:func:`resolve_prompt`, also used by training), talks to the
model (:meth:`Encoder._backend`, where another inference backend plugs in), runs it at the chosen precision
(:mod:`langmix.models.precision`), batches, caches (:mod:`langmix.models.cache`) and reports progress
(:mod:`langmix.progress`).

Two ways through it, each keeping the arithmetic of the vectors already published and on disk:

- :meth:`Encoder.encode` (LAReQA; anything asked twice): each distinct text once, the cache first, the rest
  encoded longest first in batches of ``batch_size``, then L2-normalised in numpy.
- :meth:`Encoder.encode_direct` (corpora streamed to shards, optionally across a multi-process pool, and
  search queries): one backend call per chunk, the backend sorting by length and normalising
  (``normalize_embeddings``). Routing these through :meth:`Encoder.encode` would move vectors by up to
  1.2e-7 (measured on the embedded model; about 6 in 100,000 float16 values flip), so every shard and
  index written before would disagree with a fresh one.

At fp32 (the default) both ways are exactly what they were before precision existed. At bf16 / fp16 the
model's own normalisation runs in that precision, so the vectors are normalised again in float32 numpy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from langmix.errors import LangmixError
from langmix.models.cache import FLUSH_EVERY, EmbeddingCache, cache_for, model_fingerprint, text_key
from langmix.models.precision import DEFAULT_PRECISION, at_precision, resolve_for_model
from langmix.progress import SILENT, Advance, ProgressSink

KINDS = ("query", "passage")
PASSAGE_PROMPT_KEYS = ("passage", "document", "doc", "corpus")
QUERY_PROMPT_KEYS = ("query",)
PROMPT_KEYS = {"query": QUERY_PROMPT_KEYS, "passage": PASSAGE_PROMPT_KEYS}


class EncodingModel(Protocol):
    """What the encoder needs from a model: sentence-transformers' ``encode`` (a fake one works in tests)."""

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray: ...


def resolve_prompt(model: Any, kind: str, override: str | None = None) -> str:
    """The prefix for ``kind`` ("query" or "passage"): ``override`` when given (``""`` = none), otherwise the
    model's own prompt of that kind (E5: ``"query: "`` / ``"passage: "``), otherwise none.

    The one prompt rule of langmix: LAReQA, corpus and query encoding and training all ask here, so a model
    whose passage prompt is stored under ``document`` (or ``doc``, ``corpus``) gets it everywhere.
    """
    if kind not in PROMPT_KEYS:
        raise LangmixError(f"unknown text kind {kind!r}; use 'query' or 'passage'")
    if override is not None:
        return override
    prompts = getattr(model, "prompts", None) or {}
    for key in PROMPT_KEYS[kind]:
        if key in prompts:
            return prompts[key] or ""
    return ""


def embedding_dim(model: Any) -> int:
    for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        fn = getattr(model, name, None)
        if fn is not None and (dim := fn()) is not None:
            return int(dim)
    dim = getattr(model, "dim", None)
    if dim is None:
        raise LangmixError("cannot tell the embedding dimension of this model")
    return int(dim)


def l2_normalise(table: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; an all-zero row stays zero."""
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    return table / np.where(norms > 0, norms, 1.0)


@dataclass
class EncodeStats:
    """How much encoding a request really cost (reported by the benchmark and in metrics.json)."""

    requested: int = 0
    unique: int = 0
    from_cache: int = 0
    encoded: int = 0
    batches: int = 0

    def add(self, other: EncodeStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


# texts per forward pass: measured fastest on CPU at both precisions (benchmarks/encode_speed.py: batch 32
# encodes 1,000 XQuAD-R sentences 16-17 % faster than 64 with 2 threads at fp32 and bf16); sort-by-length
# batching keeps padding small either way
ENCODE_BATCH_SIZE = 32


@dataclass
class Encoder:
    """A model with everything that decides its vectors: batch size, prompts, normalisation, cache, progress.

    Args:
        model: a SentenceTransformer (or anything with its ``encode``).
        batch_size: texts per forward pass.
        prompts: per-kind overrides of the model's prompts (``{"passage": ""}`` = no passage prompt); a kind
            not given uses :func:`resolve_prompt`'s rule.
        normalize: L2-normalise the vectors (default).
        use_cache: read and extend the on-disk cache in :meth:`encode` (keyed by ``fingerprint``, the model's
            full identity: :func:`~langmix.models.cache.model_fingerprint`, computed on first use when not
            given; and by the precision and the prompt).
        progress: where :meth:`encode` reports texts done.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (:mod:`langmix.models.precision`); resolved for
            the model's device on creation, so ``encoder.precision`` is what runs. Other than the model's
            own, the encoder runs a copy cast to it (made on first use; ``model`` is never changed).

    Example::

        encoder = Encoder(load_model("embedded"), batch_size=32, use_cache=True)
        questions, stats = encoder.encode(["Who wrote the Odyssey?"], "query")
    """

    model: EncodingModel
    batch_size: int = ENCODE_BATCH_SIZE
    prompts: Mapping[str, str | None] = field(default_factory=dict)
    normalize: bool = True
    use_cache: bool = False
    fingerprint: str | None = None
    cache_root: Path | None = None
    progress: ProgressSink = SILENT
    precision: str = DEFAULT_PRECISION
    _caches: dict[str, EmbeddingCache] = field(default_factory=dict, init=False, repr=False)
    _runner: EncodingModel | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.precision = resolve_for_model(self.precision, self.model)

    @classmethod
    def for_evaluation(cls, model: EncodingModel, max_length: int | None = None, **options: Any) -> Encoder:
        """The encoder of an evaluation: ``model`` truncating at ``max_length`` (when given; the model is
        changed) and its fingerprint taken *after* that, since the maximum length is part of it."""
        if max_length:
            model.max_seq_length = max_length
        return cls(model, fingerprint=model_fingerprint(model), **options)

    @property
    def runner(self) -> EncodingModel:
        """The model that computes: ``model`` at ``precision`` (itself, or a copy cast once)."""
        if self._runner is None:
            self._runner = at_precision(self.model, self.precision)
        return self._runner

    def prompt(self, kind: str) -> str:
        return resolve_prompt(self.model, kind, self.prompts.get(kind))

    @property
    def dim(self) -> int:
        return embedding_dim(self.model)

    def encode(
        self, texts: Sequence[str], kind: str, *, label: str | None = None
    ) -> tuple[np.ndarray, EncodeStats]:
        """float32 embeddings of ``texts`` (``kind`` "query" or "passage") in input order, each distinct text
        encoded at most once, with the cost in :class:`EncodeStats`; ``label`` names the progress task."""
        prompt = self.prompt(kind)
        unique = list(dict.fromkeys(texts))
        keys = [text_key(t) for t in unique]
        cache = self._cache(prompt)
        found = cache.get(keys) if cache is not None else [None] * len(unique)
        missing = [i for i, v in enumerate(found) if v is None]
        stats = EncodeStats(requested=len(texts), unique=len(unique), from_cache=len(unique) - len(missing))
        with self.progress.task(label or f"encoding {kind}s", total=len(unique)) as advance:
            if stats.from_cache:
                advance(stats.from_cache)
            self._encode_missing(unique, keys, found, missing, prompt, cache, stats, advance)
        dim = len(found[0]) if unique else embedding_dim(self.model)
        table = np.stack(found) if unique else np.zeros((0, dim), np.float32)
        if self.normalize:
            table = l2_normalise(table)
        position = {t: i for i, t in enumerate(unique)}
        return table[[position[t] for t in texts]], stats

    def _encode_missing(
        self,
        unique: list[str],
        keys: list[bytes],
        found: list[np.ndarray | None],
        missing: list[int],
        prompt: str,
        cache: EmbeddingCache | None,
        stats: EncodeStats,
        advance: Advance,
    ) -> None:
        """Fill ``found[i]`` for each missing ``i``, flushing to the cache every ``FLUSH_EVERY`` texts."""
        # longest first: batches of similar length waste little padding, and the slowest batch comes first
        missing.sort(key=lambda i: -len(unique[i]))
        pending: list[int] = []
        size = self.batch_size
        for start in range(0, len(missing), size):
            chunk = missing[start : start + size]
            vectors = self._backend([unique[i] for i in chunk], prompt, normalize=False)
            for i, v in zip(chunk, vectors, strict=True):
                found[i] = v
            pending.extend(chunk)
            if cache is not None and (len(pending) >= FLUSH_EVERY or start + size >= len(missing)):
                cache.put([keys[i] for i in pending], np.stack([found[i] for i in pending]))
                pending = []
            stats.encoded += len(chunk)
            stats.batches += 1
            advance(len(chunk))

    def encode_direct(
        self, texts: Sequence[str], kind: str, *, pool: dict | None = None, chunk_size: int | None = None
    ) -> np.ndarray:
        """float32 embeddings of ``texts`` from one backend call, which batches by length and normalises; no
        dedupe, no cache (corpus passages are unique and seen once). ``pool``: a started multi-process pool
        (see :meth:`multi_process`), fed ``chunk_size`` texts per worker task."""
        if not len(texts):
            return np.empty((0, embedding_dim(self.model)), dtype=np.float32)
        extra = {"pool": pool, "chunk_size": chunk_size} if pool is not None else {}
        return self._backend(list(texts), self.prompt(kind), normalize=self.normalize, **extra)

    @contextmanager
    def multi_process(self, devices: Sequence[str] | None, pool: dict | None = None) -> Iterator[dict | None]:
        """``pool`` when given; else sentence-transformers' multi-process pool on ``devices`` (e.g.
        ``["cuda:0", "cuda:1"]``), stopped on exit; else None (encode in this process)."""
        if pool is not None or not devices:
            yield pool
            return
        runner: Any = self.runner
        if not hasattr(runner, "start_multi_process_pool"):
            raise LangmixError("multi-device encoding needs a sentence-transformers model")
        own = runner.start_multi_process_pool(list(devices))
        try:
            yield own
        finally:
            runner.stop_multi_process_pool(own)

    def _backend(self, texts: list[str], prompt: str, *, normalize: bool, **extra: Any) -> np.ndarray:
        """The one call into the model (the place another inference backend plugs in); float32 out."""
        exact = self.precision == "fp32"
        emb = self.runner.encode(
            texts,
            prompt=prompt,
            batch_size=self.batch_size,
            normalize_embeddings=normalize and exact,
            convert_to_numpy=True,
            show_progress_bar=False,
            **extra,
        )
        emb = np.asarray(emb, dtype=np.float32)
        return emb if exact or not normalize else l2_normalise(emb)

    def _cache(self, prompt: str) -> EmbeddingCache | None:
        if not self.use_cache:
            return None
        if prompt not in self._caches:
            if self.fingerprint is None:
                self.fingerprint = model_fingerprint(self.model)
            self._caches[prompt] = cache_for(
                self.model,
                prompt,
                fingerprint=self.fingerprint,
                root=self.cache_root,
                precision=self.precision,
            )
        return self._caches[prompt]


__all__ = [
    "EncodeStats",
    "Encoder",
    "EncodingModel",
    "embedding_dim",
    "l2_normalise",
    "resolve_prompt",
]
