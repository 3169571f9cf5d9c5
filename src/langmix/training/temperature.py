"""``temperature: auto``: fine-tune at the temperature the start model was itself trained with.

A contrastively trained retriever's similarity scale is set by its training temperature: multilingual-e5's
cosine scores sit in [0.7, 1] because it was trained at 0.01. Fine-tuning it at 0.05 (SPEC §2's default)
first has to stretch that scale, and in docs/results.md's control the temperature moved monolingual,
cross-lingual and pooled mAP more than the batching did. ``auto`` takes the start model's own temperature
where it is known (:data:`KNOWN_TEMPERATURES`, one entry per model family with its source), and SPEC's 0.05
otherwise. A model fine-tuned by ``langmix train`` is known too: its run's ``config.yaml`` says what it was
trained at.

Resolved once, when training starts (:func:`resolve_temperature`); the run's ``config.yaml`` and identity hold
the number, and ``run.json`` records what was asked and why (``temperature``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from langmix.models.embedded import BASE_MODEL, EMBEDDED_NAME
from langmix.training.config import AUTO

DEFAULT_TEMPERATURE = 0.05  # SPEC §2, when the start model's own is not known


@dataclass(frozen=True)
class KnownTemperature:
    """A model family (Hub ids starting with ``prefix``, case-insensitive) and its training temperature."""

    prefix: str
    temperature: float
    source: str


# Only values stated by the model's authors. Add a family with its source.
KNOWN_TEMPERATURES: tuple[KnownTemperature, ...] = (
    KnownTemperature(
        "intfloat/multilingual-e5-",
        0.01,
        "model card FAQ 3, https://huggingface.co/intfloat/multilingual-e5-small: 'we use a low temperature "
        "0.01 for InfoNCE contrastive loss' (same on -base, -large)",
    ),
    KnownTemperature(
        "intfloat/e5-",
        0.01,
        "model card FAQ 3, https://huggingface.co/intfloat/e5-base-v2 (Wang et al. 2022, arXiv:2212.03533)",
    ),
)

# A Hugging Face cache folder names its model: .../models--intfloat--multilingual-e5-small/snapshots/<rev>
_HUB_CACHE = re.compile(r"models--([^/\\]+)--([^/\\]+)")


@dataclass(frozen=True)
class ResolvedTemperature:
    """The temperature a run trains at, what was asked for, and why (``run.json``'s ``temperature``)."""

    value: float
    requested: float | str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "requested": self.requested, "reason": self.reason}


def known_temperature(name: str) -> KnownTemperature | None:
    """The table's entry for a Hub id (or a path in the Hugging Face cache), if any."""
    match = _HUB_CACHE.search(name)
    hub_id = f"{match.group(1)}/{match.group(2)}" if match else name
    return next((k for k in KNOWN_TEMPERATURES if hub_id.lower().startswith(k.prefix)), None)


def _langmix_run_temperature(folder: Path) -> tuple[float, Path] | None:
    """A model ``langmix train`` wrote (``<run>/model``, ``<run>/model-unmerged`` or a checkpoint): the
    temperature its run's ``config.yaml`` records."""
    for run in (folder.parent, folder.parent.parent):
        config = run / "config.yaml"
        if (run / "run.json").is_file() and config.is_file():
            try:
                value = yaml.safe_load(config.read_text(encoding="utf-8")).get("temperature")
            except (OSError, yaml.YAMLError, AttributeError):
                return None
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                return float(value), config
            return None
    return None


def resolve_temperature(temperature: float | str, model: str) -> ResolvedTemperature:
    """``temperature`` as a number for a run starting from ``model`` (a ``--model`` value): a number stays
    itself; ``auto`` is the start model's training temperature where known, else 0.05."""
    if temperature != AUTO:
        return ResolvedTemperature(float(temperature), temperature, "set")
    embedded = model == EMBEDDED_NAME
    name, shown = (BASE_MODEL, f"the embedded model ({BASE_MODEL})") if embedded else (model, model)
    folder = Path(model).expanduser()
    if not embedded and folder.is_dir():
        run = _langmix_run_temperature(folder.absolute())  # as given: a link to a model is not its run
        if run is not None:
            return ResolvedTemperature(
                run[0], AUTO, f"{model} was trained by langmix at {run[0]:g} ({run[1]})"
            )
        name = str(folder.resolve())
    known = known_temperature(name)
    if known is not None:
        return ResolvedTemperature(
            known.temperature, AUTO, f"{shown} was trained at {known.temperature:g} ({known.source})"
        )
    return ResolvedTemperature(
        DEFAULT_TEMPERATURE,
        AUTO,
        f"no known training temperature for {model}; SPEC's default {DEFAULT_TEMPERATURE:g} "
        "(known: langmix.training.temperature.KNOWN_TEMPERATURES)",
    )
