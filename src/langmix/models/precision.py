"""One precision option for every stage that runs a model: ``auto``, ``fp32``, ``bf16`` or ``fp16``.

``auto`` picks per device, because the same choice is several times faster on one machine and slower on
another: bfloat16 roughly triples encoding throughput on a CPU with native bf16 instructions (AMX-BF16 or
AVX512-BF16) at no visible cost to any metric, but a CPU without them emulates bf16 and can be slower than
fp32. So ``auto`` is:

- CUDA: bf16 where the GPU supports it (Ampere and later), fp32 otherwise. Not fp16: its narrow range can
  overflow to inf/NaN in some models, silently, and no published number was checked at fp16; ask for it
  explicitly (``fp16``) where it is known to be safe.
- CPU: bf16 when the CPU has native bf16, fp32 otherwise.

Explicit choices pass through unchanged on every device.

The encoder (:class:`langmix.models.encoder.Encoder`) runs a copy of the model cast to the resolved precision
(:func:`at_precision`; the weights in bfloat16 were the fastest of the ways measured, autocast included), so
the caller's model, its fingerprint and anything still training it are never changed. Output vectors are
float32 at every precision.
"""

from __future__ import annotations

import copy
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langmix.errors import LangmixError

if TYPE_CHECKING:
    import torch

PRECISIONS = ("fp32", "bf16", "fp16")
CHOICES = ("auto", *PRECISIONS)
# The default of every stage that runs a model (the CLI help, the configs and the library defaults all read
# it): bf16 where the hardware runs it natively, else fp32. Numbers published at fp32 say so in their command.
DEFAULT_PRECISION = "auto"
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # /proc/cpuinfo names of native bf16 units
CPUINFO = Path("/proc/cpuinfo")


def _read_cpuinfo() -> str | None:
    """The text of /proc/cpuinfo, or None where there is none (macOS, Windows, some containers)."""
    try:
        return CPUINFO.read_text(errors="replace")
    except OSError:
        return None


def _torch_cpu_capabilities() -> dict[str, Any]:
    """torch's own CPU feature probe (``torch.cpu.get_capabilities``, torch >= 2.6), or {} without it."""
    try:
        import torch

        return dict(torch.cpu.get_capabilities())
    except (ImportError, AttributeError, RuntimeError):
        return {}


def cpu_flags() -> set[str] | None:
    """The CPU feature flags of the first processor in /proc/cpuinfo, or None when it cannot be read."""
    text = _read_cpuinfo()
    if text is None:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / ARM spelling
            return set(value.split())
    return None


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes in bfloat16 natively (AMX-BF16 or AVX512-BF16).

    Reads /proc/cpuinfo; where that is missing, asks torch. Not
    ``torch.ops.mkldnn._is_mkldnn_bf16_supported``: that is true on any AVX512 CPU, where oneDNN emulates
    bf16 and gains nothing.
    """
    flags = cpu_flags()
    if flags is None:
        caps = _torch_cpu_capabilities()
        flags = {name for name in NATIVE_BF16_FLAGS if caps.get(name)}
    return bool(flags & NATIVE_BF16_FLAGS)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _cuda_bf16_supported() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def resolve_precision(requested: str, device: str | None = None) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"`` for ``requested`` on ``device`` (e.g. ``"cpu"``, ``"cuda:1"``;
    None: CUDA when available, else CPU). ``auto`` follows the module's rule; the others pass through."""
    choice = (requested or "").strip().lower()
    if choice not in CHOICES:
        raise LangmixError(f"unknown precision {requested!r}; use one of {', '.join(CHOICES)}")
    if choice != "auto":
        return choice
    kind = (device or _default_device()).split(":")[0]
    if kind == "cuda":
        return "bf16" if _cuda_bf16_supported() else "fp32"
    if kind == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"  # mps, xpu, ...: nothing measured there yet


def resolve_for_model(requested: str, model: Any) -> str:
    """:func:`resolve_precision` on the device ``model`` runs on; ``auto`` is fp32 for a model without torch
    weights (a precomputed-vector or test encoder cannot be cast, so auto must not ask it to be)."""
    if (requested or "").strip().lower() == "auto" and model_precision(model) is None:
        return "fp32"
    return resolve_precision(requested, model_device(model))


def cpu_name() -> str:
    """The CPU's model name (``model name`` in /proc/cpuinfo, else torch's probe, else the platform's)."""
    text = _read_cpuinfo() or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return str(_torch_cpu_capabilities().get("cpu_name") or platform.processor() or platform.machine())


def device_description(device: str | None = None) -> dict[str, Any]:
    """What ran the model, for metrics.json: ``{"device": "cpu", "cpu": "AMD EPYC", "bf16_native": True}`` or
    ``{"device": "cuda", "gpu": "NVIDIA H200", "bf16_native": True}``."""
    kind = (device or _default_device()).split(":")[0]
    if kind == "cuda":
        import torch

        index = torch.device(device or "cuda").index or 0
        name = torch.cuda.get_device_name(index)
        return {"device": "cuda", "gpu": name, "bf16_native": _cuda_bf16_supported()}
    return {"device": kind, "cpu": cpu_name(), "bf16_native": cpu_has_native_bf16()}


def torch_dtype(precision: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _float_tensors(model: Any) -> Any:
    parameters = getattr(model, "parameters", None)
    if parameters is None:
        return iter(())
    return (t for t in parameters() if t.is_floating_point())


def model_precision(model: Any) -> str | None:
    """The precision of ``model``'s floating-point weights (``"fp32"``, ``"bf16"``, ...), None without any."""
    first = next(_float_tensors(model), None)
    if first is None:
        return None
    names = {"torch.float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}
    return names.get(str(first.dtype), str(first.dtype).removeprefix("torch."))


def model_device(model: Any) -> str | None:
    """The device ``model`` runs on (``"cpu"``, ``"cuda:0"``), None when it does not say."""
    device = getattr(model, "device", None)
    return None if device is None else str(device)


def _cast_copy(model: Any, dtype: torch.dtype) -> Any:
    """A deep copy of ``model`` whose floating-point parameters and buffers are ``dtype``; they are cast
    straight into the copy (no full-precision duplicate on the way)."""
    import torch

    memo: dict[int, Any] = {}
    for module in model.modules():
        for tensor in module.parameters(recurse=False):
            if tensor.is_floating_point() and id(tensor) not in memo:
                memo[id(tensor)] = torch.nn.Parameter(tensor.detach().to(dtype), tensor.requires_grad)
        for tensor in module.buffers(recurse=False):
            if tensor.is_floating_point() and id(tensor) not in memo:
                memo[id(tensor)] = tensor.detach().to(dtype)
    return copy.deepcopy(model, memo)


def at_precision(model: Any, precision: str) -> Any:
    """``model`` itself when its weights already are at ``precision`` (a resolved one), else a copy cast to
    it; the caller's model is left as it is. A model without torch weights runs only at fp32."""
    current = model_precision(model)
    if current == precision or (current is None and precision == "fp32"):
        return model
    if current is None:
        raise LangmixError(f"precision {precision} needs a torch model; this model has no weights to cast")
    return _cast_copy(model, torch_dtype(precision))


__all__ = [
    "CHOICES",
    "DEFAULT_PRECISION",
    "PRECISIONS",
    "at_precision",
    "cpu_has_native_bf16",
    "device_description",
    "model_device",
    "model_precision",
    "resolve_for_model",
    "resolve_precision",
    "torch_dtype",
]
