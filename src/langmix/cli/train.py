"""``langmix train``: hybrid batch training (a thin wrapper over :func:`langmix.training.train`).

The options are not declared here: each field of :class:`~langmix.training.config.TrainConfig` becomes a
flag (``--batch-size``; extra names such as ``--lr`` / ``--out`` and an environment variable come from the
field), with the field's help, grouped as the config groups them. A flag's text is handed over unparsed:
:func:`~langmix.training.config.load_config` parses flags, ``--set`` and YAML alike.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from langmix.cli.app import app, console
from langmix.training.config import FIELDS, SECTIONS, TrainConfig, field_type
from langmix.training.recipe import EMBEDDED_RECIPE

_METAVARS = {int: "<int>", float: "<float>", str: "<str>", list: "<a,b,...>", dict: "<yaml>"}


def _shown(value: Any, decls: tuple[str, ...]) -> str:
    if isinstance(value, bool):
        on, _, off = decls[0].partition("/")
        return (on if value else off).lstrip("-")
    return ",".join(value) if isinstance(value, list) else str(value)


def _shown_default(f: dataclasses.Field, decls: tuple[str, ...]) -> str:
    """The field's default for ``--help`` (the option's own default is None: not given, keep the config's),
    and the embedded model's recipe value where it differs."""
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    recipe = EMBEDDED_RECIPE.get(f.name, default)
    if recipe != default:
        shown = f"{_shown(recipe, decls)} for the embedded model, else {_shown(default, decls)}"
        return escape(f" [default: {shown}]")
    if default is None or default == {}:
        return ""
    return escape(f" [default: {_shown(default, decls)}]")


def _metavar(base: Any) -> str:
    """``<float>``, ``<a,b,...>``; a union of types ``<float|str>``."""
    members = typing.get_args(base) if typing.get_origin(base) in (typing.Union, types.UnionType) else ()
    if members:
        return "<" + "|".join(_metavar(m).strip("<>") for m in members) + ">"
    return _METAVARS.get(getattr(base, "__origin__", base), "<str>")


def _option(f: dataclasses.Field, panel: str) -> inspect.Parameter:
    """The command-line option of one config field."""
    base, _ = field_type(f.name)
    dashed = f.name.replace("_", "-")
    if base is bool:
        decls = f.metadata["flags"] or (f"--{dashed}/--no-{dashed}",)
        kind: Any = bool | None
    else:
        decls = (*f.metadata["flags"], f"--{dashed}")
        kind = str | None
    option = typer.Option(
        *decls,
        help=f.metadata["help"] + _shown_default(f, decls),
        metavar=None if base is bool else _metavar(base),
        envvar=f.metadata["envvar"],
        show_default=False,
        rich_help_panel=panel,
    )
    return inspect.Parameter(
        f.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind, option]
    )


def _parameters() -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter(
            "config",
            keyword,
            default=None,
            annotation=Annotated[
                Path | None, typer.Option(metavar="<yaml>", help="YAML config (options below override it)")
            ],
        ),
        inspect.Parameter(
            "set_",
            keyword,
            default=None,
            annotation=Annotated[
                list[str] | None,
                typer.Option(
                    "--set", metavar="<key=value>", help="any config field: --set key=value (repeatable)"
                ),
            ],
        ),
    ]
    panel = "Options"
    for name, f in FIELDS.items():
        panel = SECTIONS.get(name, panel)
        params.append(_option(f, panel))
    return params


def train_command(**params: Any) -> None:
    """Fine-tune a retriever with monolingual, cross-lingual or hybrid batches (SPEC §2-3).

    The embedded model trains with langmix's CPU recipe unless told otherwise (configs/recipe.yaml)."""
    from langmix.training import load_config, train
    from langmix.training.config import parse_set

    config, set_ = params.pop("config"), params.pop("set_")
    overrides = {name: value for name, value in params.items() if value is not None}
    overrides.update(parse_set(set_))
    cfg: TrainConfig = load_config(config, overrides)
    console.print(
        f"[bold]langmix train[/] {cfg.strategy} (alpha {cfg.alpha}) · data {escape(', '.join(cfg.data))} · "
        f"model {escape(cfg.model)} → {escape(cfg.output_dir)}",
        highlight=False,
    )
    result = train(cfg, notice=lambda line: console.print(f"note: {line}", markup=False, highlight=False))
    if result.process_index != 0:
        return
    comp = result.composition["trained"]
    if cfg.temperature != result.temperature:
        console.print(f"temperature {cfg.temperature} -> {result.temperature:g}", highlight=False)
    console.print(
        f"done: {result.global_step} steps in {result.runtime_s:.0f}s · "
        f"batches mono {comp['by_kind']['mono']} / "
        f"cross {comp['by_kind']['cross']} · best validation loss "
        f"{'-' if result.best_metric is None else f'{result.best_metric:.4f}'}",
        highlight=False,
    )
    console.print(
        f"model: {result.model_dir}  (SentenceTransformer('{result.model_dir}'))",
        markup=False,
        highlight=False,
    )
    if result.unmerged_model_dir is not None:
        console.print(
            f"  = {1 - cfg.merge_start:g} x fine-tuned + {cfg.merge_start:g} x start model; "
            f"unmerged: {result.unmerged_model_dir}",
            markup=False,
            highlight=False,
        )


train_command.__signature__ = inspect.Signature(_parameters())  # type: ignore[attr-defined]
app.command("train")(train_command)
