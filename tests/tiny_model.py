"""A tiny random-weight sentence-transformers model with a tokenizer trained in-process.

Real architecture (BERT encoder, mean pooling, normalisation, query/passage prompts), real files on
disk, seconds to build: unit tests exercise the same code paths as the embedded model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _vocabulary(
    texts: Iterable[str],
    normalizer: normalizers.Normalizer,
    pre_tokenizer: pre_tokenizers.PreTokenizer,
    size: int = 3000,
) -> dict[str, int]:
    """Specials, every character (word-initial and ``##`` continuation) and the most frequent words, ties by
    text: the same texts give the same ids on every run (the tokenizers trainer breaks ties by hash order,
    which made the tiny model, and every number a test computes with it, differ between runs)."""
    words: Counter[str] = Counter()
    for text in texts:
        words.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({char for word in words for char in word})
    pieces = SPECIALS + chars + [f"##{char}" for char in chars]
    known = set(pieces)
    for word, _ in sorted(words.items(), key=lambda item: (-item[1], item[0])):
        if len(pieces) >= size:
            break
        if word not in known:
            pieces.append(word)
    return {piece: i for i, piece in enumerate(pieces)}


def build_tiny_model(path: Path, texts: Iterable[str], *, hidden: int = 32, seed: int = 0) -> Path:
    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = Tokenizer(models.WordPiece(_vocabulary(texts, normalizer, pre_tokenizer), unk_token="[UNK]"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    hf_dir = path / "hf"
    fast.save_pretrained(hf_dir)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=130,
    )
    BertModel(config).save_pretrained(hf_dir)
    model = SentenceTransformer(
        modules=[Transformer(str(hf_dir), max_seq_length=64), Pooling(hidden, "mean"), Normalize()],
        prompts={"query": "query: ", "passage": "passage: "},
    )
    model.save(str(path / "st"))
    return path / "st"
