"""``langmix evaluate tatoeba``: X->en / en->X bitext retrieval on Tatoeba's 112 languages (SPEC §4.4).

Loads the model, calls :func:`langmix.evaluation.tatoeba.run_tatoeba` with progress bars, writes the run
folder (metrics.json, per_language.tsv, per_query.npz, report.md, the plot by resource class) and prints
the means. Registered on the ``evaluate`` group in :mod:`langmix.cli.evaluate`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from langmix.cli.app import check_output, console, split_list
from langmix.cli.retrieval import PrecisionOption, load_encoder
from langmix.errors import LangmixError
from langmix.evaluation.tatoeba import (
    TatoebaOptions,
    parse_tatoeba_languages,
    run_tatoeba,
    training_languages,
    write_tatoeba_run,
)
from langmix.models.encoder import ENCODE_BATCH_SIZE, KINDS
from langmix.models.loading import model_display_name
from langmix.models.precision import DEFAULT_PRECISION
from langmix.progress import RichProgress
from langmix.reports import tatoeba as report

LANGUAGES_HELP = (
    "comma-separated ISO 639-3 (deu,cmn,swh) or 639-1 codes, 'xtreme' (XTREME's 36) or 'all' (112)"
)
SEEN_HELP = (
    "the model's training languages, comma-separated (ISO 639-1 or 639-3), for seen/unseen means; "
    "default: read from the run.json next to a model trained by `langmix train`; 'none' = no split"
)


def seen_languages(value: str | None, recorded: list[str] | None) -> tuple[list[str] | None, str]:
    """``--seen-languages`` resolved against the model's ``recorded`` training languages: the list and
    where it came from (for the terminal)."""
    if value is None:
        return recorded, "from the model's training run" if recorded is not None else "not known"
    if value.strip().lower() == "none":
        return None, "not split"
    return split_list(value), "given"


def _run_dir(model: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_display_name(model)).strip("_")
    return Path("runs") / "evaluate" / f"tatoeba__{slug}"


def tatoeba(
    model: Annotated[str, typer.Option(help="'embedded', a local path or a Hugging Face id")] = "embedded",
    out: Annotated[
        Path | None, typer.Option(help="run folder (default runs/evaluate/tatoeba__<model>)")
    ] = None,
    languages: Annotated[str, typer.Option(help=LANGUAGES_HELP)] = "all",
    seen: Annotated[str | None, typer.Option("--seen-languages", help=SEEN_HELP)] = None,
    max_per_language: Annotated[
        int | None, typer.Option(min=1, help="only the first N sentence pairs of each language")
    ] = None,
    prompt: Annotated[str, typer.Option(help="the model prompt both sides get: query | passage")] = "query",
    batch_size: Annotated[int, typer.Option(min=1)] = ENCODE_BATCH_SIZE,
    max_length: Annotated[int | None, typer.Option(min=8, help="max tokens per text")] = None,
    cache: Annotated[bool, typer.Option(help="reuse/store embeddings in the on-disk cache")] = True,
    precision: PrecisionOption = DEFAULT_PRECISION,
    data_dir: Annotated[
        Path | None, typer.Option(envvar="LANGMIX_DATA_DIR", help="folder holding tatoeba/")
    ] = None,
) -> None:
    """Tatoeba (112 languages <-> English): X->en and en->X top-1 accuracy, means over all, XTREME's 36,
    resource classes and seen/unseen languages."""
    if prompt not in KINDS:
        raise LangmixError(f"--prompt must be one of {', '.join(KINDS)}, not {prompt!r}")
    recorded = training_languages(model)
    seen_langs, seen_from = seen_languages(seen, recorded)
    options = TatoebaOptions(
        languages=parse_tatoeba_languages(languages),
        max_per_language=max_per_language,
        seen_languages=seen_langs,
        prompt=prompt,
        batch_size=batch_size,
        max_length=max_length,
        use_cache=cache,
        precision=precision,
    )
    out = check_output(out or _run_dir(model))
    console.print(
        f"[bold]langmix evaluate tatoeba[/] {len(options.languages or []) or 112} languages · model "
        f"{escape(model_display_name(model))} · seen languages {seen_from} → {escape(str(out))}"
    )
    run = run_tatoeba(load_encoder(model, None), options, data_root=data_dir, progress=RichProgress(console))
    info = {"name": model_display_name(model), "training_languages": recorded}
    doc = write_tatoeba_run(run, info, out, render=report.report_files)
    Console().print(report.console_table(doc))
    files = f"metrics.json, report.md, {report.PLOT}, per_language.tsv, per_query.npz"
    console.print(f"wrote {escape(str(out))}/{files}")
