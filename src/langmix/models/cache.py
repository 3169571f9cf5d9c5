"""Model identity and the on-disk embedding cache: vectors keyed by model identity, prompt and text.

An evaluation asks for tens of thousands of texts, many repeated (identical sentences in several
paragraphs) and all of them asked again by the next evaluation of the same model. The key is the model's
identity (:func:`model_fingerprint`), the precision it ran at, the prompt text and the text itself, so a
retrained model never reads a stale vector, bf16 and fp32 vectors are never mixed, and a subset run
(``--max-questions``) reuses what a full run encoded.

A model's identity is everything that decides its vectors, not only its weights: the tokenizer (vocabulary,
normaliser, pre-tokeniser, special tokens, padding side), every module of the stack with its configuration
(pooling mode, normalisation, dense layers and their activation), the transformer's own configuration, the
prompts and the max sequence length. The same weights with CLS instead of mean pooling, another tokenizer
or another max length are another model.

A damaged cache file (truncated, zero-length, not a cache shard) is reported on one line, deleted and its
vectors computed again; nothing damaged is ever served.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from langmix.io import remove_stale, write_atomic
from langmix.paths import cache_dir

FLUSH_EVERY = 2048  # texts per cache shard: an interrupted run loses at most this much work
KEY_BYTES = 16  # blake2b digest size of a text key

log = logging.getLogger(__name__)

# Keys of a transformers config that do not change what the model computes for a text (paths, versions,
# the dtype the weights already show, runtime switches), or that change while a model is used.
_VOLATILE_CONFIG_KEYS = frozenset(
    {
        "_name_or_path",
        "transformers_version",
        "dtype",
        "torch_dtype",
        "architectures",
        "use_cache",
        "return_dict",
        "output_attentions",
        "output_hidden_states",
    }
)
_TOKENIZER_SETTINGS = (
    "padding_side",
    "truncation_side",
    "model_max_length",
    "do_lower_case",
    "add_prefix_space",
)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _plain(value: Any) -> Any:
    """``value`` as JSON-able data that is the same in every process (no memory addresses, no sets)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(str(_plain(v)) for v in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, type) or callable(value):
        kind = value if isinstance(value, type) else type(value)
        return f"{kind.__module__}.{kind.__qualname__}"
    return _ADDRESS.sub("", str(value))


def tokenizer_identity(tokenizer: Any) -> str:
    """Hash of everything that decides how ``tokenizer`` splits a text into ids.

    A fast tokenizer is hashed part by part (normaliser, pre-tokeniser, model with its vocabulary,
    post-processor, decoder, added tokens), leaving out its truncation and padding state, which the
    tokenizer rewrites on every call; a slow one by its vocabulary. Both add the Python-side settings
    (padding side, special tokens, lower-casing, ...).
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        for part in ("normalizer", "pre_tokenizer", "model", "post_processor", "decoder"):
            component = getattr(backend, part, None)
            digest.update(part.encode() + b"\0")
            digest.update(component.__getstate__() if component is not None else b"null")
        added = sorted((i, repr(token)) for i, token in backend.get_added_tokens_decoder().items())
        digest.update(json.dumps(added).encode())
    elif hasattr(tokenizer, "get_vocab"):
        digest.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    settings = {name: getattr(tokenizer, name, None) for name in _TOKENIZER_SETTINGS}
    settings["special_tokens"] = getattr(tokenizer, "special_tokens_map", None)
    digest.update(json.dumps(_plain(settings), sort_keys=True).encode())
    return digest.hexdigest()


def _module_identity(name: str, module: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "type": type(module).__name__}
    get_config = getattr(module, "get_config_dict", None)
    if callable(get_config):
        entry["config"] = _plain(get_config())
    config = getattr(getattr(module, "auto_model", None), "config", None)
    if config is not None and hasattr(config, "to_dict"):
        entry["model_config"] = _plain(
            {k: v for k, v in config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS and k[:1] != "_"}
        )
    tokenizer = getattr(module, "tokenizer", None)
    if tokenizer is not None:
        entry["tokenizer"] = tokenizer_identity(tokenizer)
    return entry


def model_identity(model: Any) -> dict[str, Any]:
    """Everything but the weights that decides ``model``'s vectors, as JSON-able data: each module of the
    stack (type, configuration, transformer configuration, tokenizer hash), prompts, default prompt, max
    sequence length and output truncation. Part of :func:`model_fingerprint`; recorded to say what differs."""
    children = model.named_children() if hasattr(model, "named_children") else []
    return {
        "modules": [_module_identity(name, module) for name, module in children],
        "max_seq_length": getattr(model, "max_seq_length", None),
        "prompts": _plain(dict(getattr(model, "prompts", None) or {})),
        "default_prompt_name": getattr(model, "default_prompt_name", None),
        "truncate_dim": getattr(model, "truncate_dim", None),
    }


def model_fingerprint(model: Any) -> str:
    """The identity of a SentenceTransformer: a hash of every parameter and buffer and of
    :func:`model_identity` (tokenizer, modules and their configuration, prompts, max length).

    Computed from the model as it is now (hashing the weights takes ~1 s for a small model), never cached:
    a model still being trained changes.
    """
    import torch  # lazily: reading and filling the cache needs no torch

    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    digest.update(json.dumps(model_identity(model), sort_keys=True).encode())
    return digest.hexdigest()


def fingerprint_or_none(model: Any) -> str | None:
    """:func:`model_fingerprint` of a torch model; None for anything else (a test's fake encoder)."""
    return model_fingerprint(model) if hasattr(model, "state_dict") else None


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=KEY_BYTES).digest()


class EmbeddingCache:
    """Append-only store of ``key -> vector`` in ``.npz`` shards, each written atomically.

    Several processes may fill one cache at once: each writes shards under its own names (pid and key
    hash) through a per-process temporary, so none ever reads or deletes another's work in progress.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._index: dict[bytes, np.ndarray] | None = None

    def _read_shard(self, shard: Path) -> tuple[np.ndarray, np.ndarray] | None:
        """The keys and vectors of one shard, or None (reported and deleted) when it is damaged."""
        try:
            with np.load(shard) as npz:
                keys, vectors = npz["keys"], npz["vectors"]
            if keys.ndim != 2 or keys.shape[1] != KEY_BYTES or vectors.ndim != 2 or len(keys) != len(vectors):
                raise ValueError(f"keys {keys.shape}, vectors {vectors.shape}")
        except FileNotFoundError:
            return None  # another process found it damaged and deleted it
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            log.warning(
                "embedding cache file %s is damaged (%s: %s); deleted, its vectors will be computed again",
                shard,
                type(exc).__name__,
                " ".join(str(exc).split()) or "unreadable",
            )
            shard.unlink(missing_ok=True)
            return None
        return keys, vectors

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._index is None:
            self._index = {}
            remove_stale(self.root, ".shard-")  # temporaries of writers killed mid-write
            for shard in sorted(self.root.glob("shard-*.npz")):
                found = self._read_shard(shard)
                if found is None:
                    continue
                for key, vector in zip(*found, strict=True):
                    self._index[key.tobytes()] = vector
        return self._index

    def get(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        index = self._load()
        return [index.get(k) for k in keys]

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        self.root.mkdir(parents=True, exist_ok=True)
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1)
        name = f"shard-{os.getpid()}-{hashlib.blake2b(key_array.tobytes(), digest_size=8).hexdigest()}.npz"
        buffer = io.BytesIO()
        np.savez(buffer, keys=key_array, vectors=vectors.astype(np.float32))
        write_atomic(self.root / name, buffer.getvalue())
        index = self._load()
        for key, vector in zip(keys, vectors, strict=True):
            index[key] = vector


def cache_for(
    model,
    prompt: str,
    *,
    fingerprint: str | None = None,
    root: Path | None = None,
    precision: str = "fp32",
) -> EmbeddingCache:
    """The cache of ``model`` for texts encoded with the prompt text ``prompt`` (``""``: none) at the resolved
    ``precision``: fp32 vectors in ``<fingerprint>/``, other precisions beside them (``<fingerprint>-bf16``),
    so one is never served for another.

    Pass ``fingerprint`` when already computed (:func:`model_fingerprint`): hashing the weights takes ~1 s.
    """
    fingerprint = fingerprint or model_fingerprint(model)
    folder = fingerprint if precision == "fp32" else f"{fingerprint}-{precision}"
    prompt_key = hashlib.blake2b(prompt.encode(), digest_size=6).hexdigest()
    return EmbeddingCache((root or cache_dir() / "embeddings") / folder / prompt_key)
