"""Commands of the train stage (see langmix.cli.app)."""

from __future__ import annotations

from langmix.cli.app import app  # noqa: F401
