"""langmix pretrain: MLM pretraining of a tiny model's encoder on real MLQA-R passages."""

from __future__ import annotations

import json

import pytest
import torch

from langmix.errors import LangmixError
from langmix.models.loading import load_model
from langmix.training.pretrain import PretrainConfig, masked_lm, pretrain, pretrain_texts


def _config(tmp_path, tiny_model_dir, data_dir, **changes) -> PretrainConfig:
    base = dict(
        output_dir=str(tmp_path / "pre"),
        model=str(tiny_model_dir),
        data=["mlqa-r"],
        languages=["en", "de"],
        data_root=str(data_dir),
        max_texts=96,
        max_seq_length=32,
        batch_size=8,
        max_steps=12,
        learning_rate=2e-3,
        warmup=0,
        val_fraction=0.25,
        save_steps=6,
        precision="fp32",
    )
    return PretrainConfig(**{**base, **changes})


def test_pretraining_lowers_the_held_out_mlm_loss_and_saves_a_retriever(tmp_path, tiny_model_dir, data_dir):
    from sentence_transformers import SentenceTransformer

    config = _config(tmp_path, tiny_model_dir, data_dir)
    result = pretrain(config)
    assert result.global_step == 12
    assert result.val_loss_after < result.val_loss_before - 0.5  # ln(3000) ~ 8 at the start
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["texts"] == {"source": "the passages of mlqa-r", "train": 72, "validation": 24}
    assert info["new_weights"] and all(not k.startswith("bert.") for k in info["new_weights"])

    start, tuned = SentenceTransformer(str(tiny_model_dir)), SentenceTransformer(str(result.model_dir))
    assert [type(m).__name__ for m in tuned] == [type(m).__name__ for m in start]
    s, t = start.state_dict(), tuned.state_dict()
    layer = next(k for k in s if "encoder.layer.0" in k and k.endswith("weight"))
    assert not torch.equal(s[layer], t[layer])  # the encoder learned
    assert tuned.encode(["ein Satz"]).shape == start.encode(["ein Satz"]).shape

    # the same settings again: nothing to do; other settings: refused, naming what differs
    notes: list[str] = []
    again = pretrain(config, notice=notes.append)
    assert again.val_loss_after == result.val_loss_after and "finished earlier" in notes[0]
    with pytest.raises(LangmixError, match="mlm_probability 0.15 -> 0.3"):
        pretrain(_config(tmp_path, tiny_model_dir, data_dir, mlm_probability=0.3))


def test_texts_come_from_passages_or_text_files(tmp_path, tiny_model_dir, data_dir):
    texts, source = pretrain_texts(_config(tmp_path, tiny_model_dir, data_dir, max_texts=None))
    assert len(texts) == len(set(texts)) > 96 and source == "the passages of mlqa-r"
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "a.txt").write_text("eins\n\n  zwei  \n", encoding="utf-8")
    (folder / "b.txt").write_text("drei\neins\n", encoding="utf-8")
    texts, source = pretrain_texts(_config(tmp_path, tiny_model_dir, data_dir, text_dir=str(folder)))
    assert sorted(texts) == ["drei", "eins", "zwei"] and source.startswith("2 .txt file(s)")
    (folder / "c.txt").write_bytes(b"ok\n\xff\xfe broken\n")
    with pytest.raises(LangmixError, match=r"c.txt: not UTF-8 text \(byte 3\)"):
        pretrain_texts(_config(tmp_path, tiny_model_dir, data_dir, text_dir=str(folder)))
    with pytest.raises(LangmixError, match="holds no .txt files"):
        pretrain_texts(_config(tmp_path, tiny_model_dir, data_dir, text_dir=str(tmp_path / "none")))
    with pytest.raises(LangmixError, match="mlm_probability"):
        _config(tmp_path, tiny_model_dir, data_dir, mlm_probability=1.5).validate()


def test_the_mlm_model_shares_nothing_but_starts_from_the_encoder(tiny_model_dir):
    model = load_model(str(tiny_model_dir))
    mlm, encoder, new = masked_lm(model)
    base = mlm.bert.state_dict()
    for key, value in encoder.state_dict().items():
        if key in base:
            assert torch.equal(base[key], value) and base[key].data_ptr() != value.data_ptr()
    assert (
        mlm.get_output_embeddings().weight.data_ptr() == mlm.bert.embeddings.word_embeddings.weight.data_ptr()
    )
    assert new and all(k.startswith("cls.") for k in new)
