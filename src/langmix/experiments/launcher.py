"""How an experiment starts each training: one of a few known launchers, never an arbitrary command.

An experiment file is data that people share and download; its ``launcher`` must not be a way to run any
program. It is one of

* ``python`` (the default): this Python, ``python -m langmix``;
* ``torchrun`` with torchrun's own options (``--nproc-per-node 8``, ``--nnodes``, ``--master-port`` ...);
* ``accelerate launch`` with accelerate's (``--num-processes 8``, ``--mixed-precision bf16`` ...),

written as a string (``torchrun --nproc-per-node 8``) or a list (``[torchrun, --nproc_per_node, "8", -m,
langmix]``, the form the paper configs use; the trailing ``-m langmix`` is optional). Every option value is
checked against its pattern. The launcher runs as a module of this Python (``-m torch.distributed.run``,
``-m accelerate.commands.launch``), so it needs nothing on ``PATH`` and is the one installed with langmix.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from typing import Any

from langmix.errors import LangmixError

_INT = r"\d{1,6}"
_PORT = r"\d{1,5}"
_HOST = r"[A-Za-z0-9][A-Za-z0-9.\-]{0,252}|\[[0-9A-Fa-f:.]+\]"
_WORD = r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}"


@dataclass(frozen=True)
class Launcher:
    """A known launcher: its module, its options (canonical name -> value pattern, None for a flag) and how
    it spells them on its command line."""

    name: str
    module: str | None
    options: dict[str, str | None]
    separator: str  # "-" (torchrun) or "_" (accelerate) in the spelled option names


LAUNCHERS = {
    "python": Launcher("python", None, {}, "-"),
    "torchrun": Launcher(
        "torchrun",
        "torch.distributed.run",
        {
            "nproc-per-node": rf"{_INT}|auto|cpu|gpu|xpu",
            "nnodes": rf"{_INT}(:{_INT})?",
            "node-rank": _INT,
            "master-addr": _HOST,
            "master-port": _PORT,
            "standalone": None,
            "rdzv-backend": r"c10d|static|etcd|etcd-v2",
            "rdzv-endpoint": rf"({_HOST})(:{_PORT})?",
            "rdzv-id": _WORD,
            "max-restarts": _INT,
        },
        "-",
    ),
    "accelerate launch": Launcher(
        "accelerate launch",
        "accelerate.commands.launch",
        {
            "num-processes": _INT,
            "num-machines": _INT,
            "machine-rank": _INT,
            "main-process-ip": _HOST,
            "main-process-port": _PORT,
            "mixed-precision": r"no|fp16|bf16",
            "multi-gpu": None,
            "cpu": None,
            "gpu-ids": rf"all|{_INT}(,{_INT})*",
            "num-cpu-threads-per-process": _INT,
            "same-network": None,
        },
        "_",
    ),
}
KNOWN = "python, torchrun [options] or accelerate launch [options]"


def _tokens(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise LangmixError(f"launcher: cannot read {value!r} ({exc})") from None
    if isinstance(value, list) and all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    raise LangmixError(f"launcher: expected a string or a list of words, got {value!r}")


def _program(tokens: list[str]) -> tuple[Launcher, list[str]]:
    """The launcher the words name, and the words after its name."""
    first = tokens[0] if tokens else ""
    if first in ("python", "python3") or first == sys.executable:
        return LAUNCHERS["python"], tokens[1:]
    if first == "torchrun":
        return LAUNCHERS["torchrun"], tokens[1:]
    if tokens[:2] == ["accelerate", "launch"]:
        return LAUNCHERS["accelerate launch"], tokens[2:]
    raise LangmixError(f"launcher: {' '.join(tokens)!r} is not a known launcher; use {KNOWN}")


def _options(launcher: Launcher, words: list[str]) -> list[str]:
    """The launcher's options, each checked, spelled as the launcher expects."""
    out, i = [], 0
    while i < len(words):
        word = words[i]
        name, eq, value = word.partition("=")
        key = name.removeprefix("--").replace("_", "-")
        if not name.startswith("--") or key not in launcher.options:
            known = ", ".join(f"--{k}" for k in launcher.options) or "none"
            raise LangmixError(f"launcher: {launcher.name} option {word!r} is not allowed (allowed: {known})")
        pattern = launcher.options[key]
        spelled = "--" + key.replace("-", launcher.separator)
        if pattern is None:
            if eq:
                raise LangmixError(f"launcher: {name} takes no value")
            out.append(spelled)
            i += 1
            continue
        if not eq:
            if i + 1 >= len(words):
                raise LangmixError(f"launcher: {name} needs a value")
            value, i = words[i + 1], i + 1
        if not re.fullmatch(pattern, value):
            raise LangmixError(f"launcher: {name} cannot be {value!r}")
        out += [spelled, value]
        i += 1
    return out


def launch_command(value: Any) -> list[str]:
    """The command that starts ``langmix`` under the launcher ``value`` (LangmixError for anything else);
    the caller appends ``train --config ...``."""
    words = _tokens(value)
    if words[-2:] == ["-m", "langmix"]:
        words = words[:-2]
    launcher, rest = _program(words)
    options = _options(launcher, rest)
    module = ["-m", launcher.module] if launcher.module else []
    return [sys.executable, *module, *options, "-m", "langmix"]
