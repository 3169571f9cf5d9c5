"""``langmix`` command line: one module per pipeline stage, all thin wrappers over the library API."""

from __future__ import annotations

from langmix.cli import (  # noqa: F401  (registers the commands)
    data,
    debias,
    demo,
    evaluate,
    experiment,
    merge,
    pretrain,
    retrieval,
    train,
)
from langmix.cli.app import app, main

__all__ = ["app", "main"]
