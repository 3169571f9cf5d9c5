"""Weight interpolation of two models of one architecture (WiSE-FT, Wortsman et al. 2022; LM-Cocktail,
Xiao et al. 2023, did it for BGE to undo what fine-tuning forgot).

``interpolate(A, B, w)`` is ``(1 - w) * A + w * B``, parameter by parameter: ``w = 0`` is A exactly, ``w = 1``
B exactly. With A a fine-tuned retriever and B its start model, a small ``w`` gives back some of what the
fine-tune cost (monolingual quality) at some of what it gained (language bias).

Why a linear interpolation of state dicts and not sentence-transformers' ``SentenceTransformer.merge``: that
one needs the heavy ``mergekit`` extra (and its dependency pins) for what is, for two models, a few lines; the
few lines here also check the two models match (same parameter names and shapes) and keep everything that is
not a weight (tokenizer, prompts, pooling, maximum length) from A, so the result is a plain
sentence-transformers model that saves and loads as A would.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langmix.errors import LangmixError
from langmix.io import atomic_folder, replaceable_folder, write_json

if TYPE_CHECKING:
    import torch


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_compatible(
    state_a: Mapping[str, torch.Tensor],
    state_b: Mapping[str, torch.Tensor],
    names: tuple[str, str] = ("A", "B"),
) -> None:
    """LangmixError (one line) unless both have the same parameter names with the same shapes."""
    a, b = names
    only_a = sorted(set(state_a) - set(state_b))
    only_b = sorted(set(state_b) - set(state_a))
    if only_a or only_b:
        parts = [
            f"{_shown(only_a)} only in {a}" if only_a else "",
            f"{_shown(only_b)} only in {b}" if only_b else "",
        ]
        raise LangmixError(
            f"cannot merge {a} and {b}: different architectures ({'; '.join(p for p in parts if p)})"
        )
    for key, tensor in state_a.items():
        if tuple(tensor.shape) != tuple(state_b[key].shape):
            raise LangmixError(
                f"cannot merge {a} and {b}: {key} has shape {tuple(tensor.shape)} in {a} and "
                f"{tuple(state_b[key].shape)} in {b} (different sizes or vocabularies)"
            )


def check_weight(weight: float) -> float:
    if not 0.0 <= weight <= 1.0:
        raise LangmixError(
            f"merge weight must be in [0, 1] (0: the first model, 1: the second), got {weight}"
        )
    return float(weight)


def interpolate_state(
    state_a: Mapping[str, torch.Tensor],
    state_b: Mapping[str, torch.Tensor],
    weight: float,
    names: tuple[str, str] = ("A", "B"),
) -> dict[str, torch.Tensor]:
    """``(1 - weight) * a + weight * b`` for every floating-point tensor, computed in float32 and stored in
    A's dtype; integer buffers (position ids) are A's. ``weight`` 0 / 1 are copies of A / B exactly."""
    import torch

    weight = check_weight(weight)
    check_compatible(state_a, state_b, names)
    out = {}
    for key, a in state_a.items():
        b = state_b[key]
        if weight == 1.0:
            dtype = a.dtype if a.is_floating_point() else b.dtype
            out[key] = b.detach().to(device=a.device, dtype=dtype, copy=True)
        elif weight == 0.0 or not a.is_floating_point():
            out[key] = a.detach().clone()
        else:
            mixed = torch.lerp(a.detach().float(), b.detach().to(a.device).float(), weight)
            out[key] = mixed.to(a.dtype)
    return out


def interpolate(model_a: torch.nn.Module, model_b: torch.nn.Module, weight: float) -> torch.nn.Module:
    """A new model: ``model_a``'s modules and settings with ``(1 - weight) * A + weight * B`` weights.
    The two must have the same parameter names and shapes (one-line LangmixError otherwise)."""
    return interpolate_model_named(model_a, model_b, weight, ("A", "B"))


def interpolate_into(model: torch.nn.Module, other: Mapping[str, torch.Tensor], weight: float) -> None:
    """Move ``model``'s own weights in place to ``(1 - weight) * model + weight * other`` (a state dict, e.g.
    the start model's, kept before training): what ``langmix train --merge-start`` does to the trained model
    without holding a third copy."""
    model.load_state_dict(
        interpolate_state(model.state_dict(), other, weight, ("the trained model", "the start"))
    )


METADATA = "langmix_merge.json"  # what a merged folder was made from; --overwrite replaces only such folders


def merge_models(
    model_a: str, model_b: str, weight: float, out: str | Path, *, overwrite: bool = False
) -> dict[str, Any]:
    """``langmix merge A B --weight W --out DIR``: load both (``embedded``, a folder or a Hub id), save
    ``(1 - W) * A + W * B`` as a plain sentence-transformers folder with A's settings, and
    :data:`METADATA` saying what it was made from. ``out`` is written whole (a temporary sibling renamed into
    place); an existing non-empty ``out`` is refused unless ``overwrite`` and it holds an earlier merge."""
    from langmix.models.cache import model_fingerprint
    from langmix.models.loading import load_model

    weight = check_weight(weight)
    out = _check_out(Path(out), overwrite)
    a, b = load_model(model_a), load_model(model_b)
    merged = interpolate_model_named(a, b, weight, (model_a, model_b))
    meta = {
        "a": {"model": model_a, "fingerprint": model_fingerprint(a)},
        "b": {"model": model_b, "fingerprint": model_fingerprint(b)},
        "weight": weight,
        "formula": "(1 - weight) * a + weight * b, per parameter; modules and settings of a",
        "fingerprint": model_fingerprint(merged),
    }
    with atomic_folder(out) as folder:
        merged.save(str(folder), create_model_card=False)
        write_json(folder / METADATA, meta)
    return meta


def interpolate_model_named(
    model_a: torch.nn.Module, model_b: torch.nn.Module, weight: float, names: tuple[str, str]
) -> torch.nn.Module:
    """:func:`interpolate`, its errors naming the two models as the user gave them."""
    state = interpolate_state(model_a.state_dict(), model_b.state_dict(), weight, names)
    merged = copy.deepcopy(model_a)
    merged.load_state_dict(state)
    return merged


def _check_out(out: Path, overwrite: bool) -> Path:
    return replaceable_folder(out, overwrite, METADATA, "langmix merge")
