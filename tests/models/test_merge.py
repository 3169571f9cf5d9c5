"""Weight interpolation (``langmix.models.merge``, ``langmix merge``): weight 0 / 1 give exactly A / B, 0.5
their mean, models of other shapes or parameter names are refused on one line, and the merged folder is a
plain sentence-transformers model with A's settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer
from tests.tiny_model import build_tiny_model
from typer.testing import CliRunner

from langmix.cli import app
from langmix.errors import LangmixError
from langmix.models.merge import METADATA, interpolate, interpolate_state, merge_models

TEXTS = [f"sentence {i} about topic {i % 7} and the word w{i % 13}" for i in range(200)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("merge-models")
    return {
        "a": build_tiny_model(root / "a", TEXTS, seed=0),
        "b": build_tiny_model(root / "b", TEXTS, seed=1),
        "wide": build_tiny_model(root / "wide", TEXTS, hidden=48, seed=0),
    }


def _load(path: Path) -> SentenceTransformer:
    return SentenceTransformer(str(path), device="cpu")


def _floats(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def test_weights_zero_and_one_are_the_models_and_a_half_is_the_mean(folders):
    a, b = _load(folders["a"]), _load(folders["b"])
    sa, sb = _floats(a), _floats(b)
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)  # two different models
    for weight, expected in ((0.0, sa), (1.0, sb)):
        merged = _floats(interpolate(a, b, weight))
        assert all(torch.equal(merged[k], expected[k]) for k in expected), weight
    half, quarter = _floats(interpolate(a, b, 0.5)), _floats(interpolate(a, b, 0.25))
    for key in sa:
        assert torch.allclose(half[key], (sa[key] + sb[key]) / 2, atol=1e-7)
        assert torch.allclose(quarter[key], 0.75 * sa[key] + 0.25 * sb[key], atol=1e-7)
    assert all(torch.equal(v, _floats(a)[k]) for k, v in sa.items())  # the inputs are left as they were
    sentences = ["query: a test sentence"]
    assert torch.allclose(
        torch.as_tensor(interpolate(a, b, 0.0).encode(sentences)), torch.as_tensor(a.encode(sentences))
    )


def test_models_of_another_shape_or_names_are_refused_on_one_line(folders):
    a, wide = _load(folders["a"]), _load(folders["wide"])
    with pytest.raises(
        LangmixError, match=r"cannot merge A and B: .* has shape \(\d+, 32\) in A and \(\d+, 48\)"
    ):
        interpolate(a, wide, 0.5)
    state = a.state_dict()
    fewer = {k: v for k, v in state.items() if "pooler" not in k and "layer.1." not in k}
    with pytest.raises(LangmixError, match=r"different architectures \(.*only in A\)") as err:
        interpolate_state(state, fewer, 0.5)
    assert "\n" not in str(err.value)
    with pytest.raises(LangmixError, match=r"merge weight must be in \[0, 1\]"):
        interpolate(a, a, 1.5)


def test_merge_command_writes_a_plain_model_folder(folders, tmp_path):
    out = tmp_path / "merged"
    result = CliRunner().invoke(
        app, ["merge", str(folders["a"]), str(folders["b"]), "--weight", "0.5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    merged = _load(out)
    expected = _floats(interpolate(_load(folders["a"]), _load(folders["b"]), 0.5))
    assert all(torch.equal(v, expected[k]) for k, v in _floats(merged).items())
    assert merged.prompts == _load(folders["a"]).prompts and merged.max_seq_length == 64
    meta = json.loads((out / METADATA).read_text())
    assert meta["weight"] == 0.5 and meta["a"]["model"] == str(folders["a"])
    # an existing folder is replaced only with --overwrite, and only when an earlier merge wrote it
    with pytest.raises(LangmixError, match="exists and is not empty"):
        merge_models(str(folders["a"]), str(folders["b"]), 1.0, out)
    merge_models(str(folders["a"]), str(folders["b"]), 1.0, out, overwrite=True)
    assert all(torch.equal(v, _floats(_load(folders["b"]))[k]) for k, v in _floats(_load(out)).items())
    with pytest.raises(LangmixError, match="was not written by langmix merge"):
        merge_models(str(folders["a"]), str(folders["b"]), 0.5, folders["wide"], overwrite=True)
