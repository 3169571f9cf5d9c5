"""The evaluation stage: ``langmix evaluate xquad-r|mlqa-r|miracl|beir`` and ``langmix compare``.

Each command loads a model (or reads run files), calls the library (``langmix.evaluation``), writes the run
folder with its report (``langmix.reports``) and prints the table.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from langmix.cli.app import app, check_output, console, evaluate_app, parse_max_questions, split_list
from langmix.cli.retrieval import (
    BatchSizeOption,
    DevicesOption,
    DtypeOption,
    HitsOption,
    IndexKindOption,
    MaxLengthOption,
    MetricsOption,
    ModelOption,
    NprobeOption,
    OverwriteOption,
    PrecisionOption,
    ShardSizeOption,
    WorkOption,
    fingerprint_of,
    load_encoder,
)
from langmix.cli.tatoeba import tatoeba as tatoeba_command
from langmix.data.benchmarks import LAREQA_BENCHMARKS
from langmix.data.lareqa import CANDIDATE_MODES
from langmix.data.pools import Pool, beir_pool, miracl_pools
from langmix.errors import LangmixError
from langmix.evaluation.api import LareqaOptions, run_lareqa
from langmix.evaluation.lareqa_run import write_lareqa_run
from langmix.evaluation.retrieval import RetrievalSettings, evaluate_pools
from langmix.evaluation.tatoeba import training_languages
from langmix.evaluation.trec import DEFAULT_METRICS
from langmix.models.encoder import ENCODE_BATCH_SIZE
from langmix.models.loading import model_display_name
from langmix.models.precision import DEFAULT_PRECISION
from langmix.progress import RichProgress
from langmix.reports import lareqa as lareqa_report
from langmix.reports import retrieval as retrieval_report
from langmix.reports.compare import compare_table
from langmix.retrieval.index import IndexConfig


def default_run_dir(dataset: str, model: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_display_name(model)).strip("_")
    return Path("runs") / "evaluate" / f"{dataset}__{slug}"


def evaluate_lareqa_command(
    model: str, options: LareqaOptions, out: Path | None, data_dir: Path | None
) -> dict:
    """Load ``model``, run the evaluation with progress bars, write the run folder, print the table."""
    if options.candidate_mode not in CANDIDATE_MODES:
        raise LangmixError(f"--candidate must be one of {', '.join(CANDIDATE_MODES)}")
    out = check_output(out or default_run_dir(options.dataset, model))
    name = escape(model_display_name(model))
    console.print(f"[bold]langmix evaluate[/] {options.dataset} · model {name} → {escape(str(out))}")
    st_model = load_encoder(model, None)
    run = run_lareqa(st_model, options, data_root=data_dir, progress=RichProgress(console))
    # a langmix-trained model's run names its training languages: the report adds seen / unseen means
    info = {"name": model_display_name(model), "training_languages": training_languages(model)}
    doc = write_lareqa_run(run, info, out, render=lareqa_report.report_files)
    Console().print(lareqa_report.console_table(doc))
    for skipped in doc["data"]["skipped"]:
        console.print(f"[yellow]skipped[/] {escape(str(skipped))}")
    console.print(f"wrote {escape(str(out))}/metrics.json, report.md, heatmap_map.png, per_query.npz")
    return doc


MaxQuestionsOption = Annotated[
    int | None,
    typer.Option(
        parser=parse_max_questions,
        metavar="N|all",
        help="at most N (>= 1) questions per language, or all (the default); the pool is never cut",
    ),
]


def _lareqa_command(dataset: str):
    def command(
        model: Annotated[
            str, typer.Option(help="'embedded', a local path or a Hugging Face id")
        ] = "embedded",
        out: Annotated[
            Path | None, typer.Option(help="run folder (default runs/evaluate/<set>__<model>)")
        ] = None,
        langs: Annotated[str | None, typer.Option(help="comma-separated language subset")] = None,
        max_questions: MaxQuestionsOption = None,
        candidate: Annotated[
            str, typer.Option(help="candidate text: sentence | sentence+paragraph")
        ] = "sentence",
        batch_size: Annotated[int, typer.Option(min=1)] = ENCODE_BATCH_SIZE,
        max_length: Annotated[int | None, typer.Option(min=8, help="max tokens per text")] = None,
        skip_invalid: Annotated[
            bool, typer.Option(help="skip bad records (listed in the report), don't fail")
        ] = False,
        cache: Annotated[bool, typer.Option(help="reuse/store embeddings in the on-disk cache")] = True,
        precision: PrecisionOption = DEFAULT_PRECISION,
        center_languages: Annotated[
            bool,
            typer.Option(
                help="oracle analysis, not a model: subtract each language's mean vector (needs every "
                "text's language); recorded as options.center"
            ),
        ] = False,
        data_dir: Annotated[
            Path | None, typer.Option(envvar="LANGMIX_DATA_DIR", help="folder holding lareqa/")
        ] = None,
    ) -> None:
        options = LareqaOptions(
            dataset=dataset,
            languages=split_list(langs),
            max_questions=max_questions,
            candidate_mode=candidate,
            batch_size=batch_size,
            max_length=max_length,
            strict=not skip_invalid,
            use_cache=cache,
            precision=precision,
            center="language" if center_languages else "none",
        )
        evaluate_lareqa_command(model, options, out, data_dir)

    command.__doc__ = (
        f"{dataset.upper()} (LAReQA): Mo., Cr., Mul. mAP, R@1/10, mAP@20 and rank distance of a model."
    )
    return command


for _name in LAREQA_BENCHMARKS:
    evaluate_app.command(_name)(_lareqa_command(_name))
evaluate_app.command("tatoeba")(tatoeba_command)  # langmix.cli.tatoeba (SPEC §4.4)


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="run folders or metrics.json files; first = baseline")],
):
    """Print runs of one benchmark (LAReQA, MIRACL or BEIR) side by side with deltas against the first."""
    Console().print(compare_table(runs))


# -- MIRACL / BEIR ----------------------------------------------------------------------------------------
RunsHelp = "score existing runs instead of searching, e.g. runs/{lang}.trec"


def _search_options(
    work: WorkOption = None,
    k: HitsOption = 100,
    index_kind: IndexKindOption = "flat",
    nprobe: NprobeOption = 32,
    metrics: MetricsOption = None,
    shard_size: ShardSizeOption = 100_000,
    batch_size: BatchSizeOption = ENCODE_BATCH_SIZE,
    dtype: DtypeOption = "float16",
    devices: DevicesOption = None,
    max_length: MaxLengthOption = None,
    overwrite: OverwriteOption = False,
    precision: PrecisionOption = DEFAULT_PRECISION,
) -> None:
    """The options of every evaluation that searches, declared once (see :func:`searching`)."""


@dataclass
class SearchOptions:
    """What :func:`searching` hands a command: the shared options, checked as ``settings`` on creation."""

    work: Path | None
    k: int
    index_kind: str
    nprobe: int
    metrics: str | None
    shard_size: int
    batch_size: int
    dtype: str
    devices: str | None
    max_length: int | None
    overwrite: bool
    precision: str
    settings: RetrievalSettings = field(init=False)

    def __post_init__(self) -> None:
        self.settings = RetrievalSettings(
            k=self.k,
            metrics=tuple(split_list(self.metrics) or DEFAULT_METRICS),
            index=IndexConfig(kind=self.index_kind, nprobe=self.nprobe),
            shard_size=self.shard_size,
            batch_size=self.batch_size,
            dtype=self.dtype,
            devices=tuple(split_list(self.devices)) if self.devices else None,
            overwrite=self.overwrite,
            precision=self.precision,
        )


def searching(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the options of :func:`_search_options`; it receives them as ``search``."""
    shared = list(inspect.signature(_search_options, eval_str=True).parameters.values())
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "search"]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        search = SearchOptions(**{p.name: kwargs.pop(p.name) for p in shared})
        command(**kwargs, search=search)

    wrapper.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
    return wrapper


def _run_files(runs: str, pools: list[Pool]) -> dict[str, Path]:
    if "{lang}" not in runs:
        raise LangmixError("--runs must contain {lang}, e.g. runs/{lang}.trec")
    try:
        return {label: Path(runs.format(lang=label)) for pool in pools for label in pool.groups}
    except (KeyError, IndexError, ValueError):
        raise LangmixError(f"--runs {runs!r}: the only placeholder allowed is {{lang}}") from None


def _run_pools(
    pools: list[Pool], *, model: str | None, runs: str | None, out: Path, search: SearchOptions, **facts: Any
) -> dict:
    """Search (or read the run files of) every pool, score, write the run folder, print the table."""
    if search.work is not None:
        check_output(search.work, "--work")
    st_model = None
    if runs is None:
        st_model = load_encoder(model or "embedded", search.max_length)
    summary = evaluate_pools(
        pools,
        out,
        model=st_model,
        model_name=model or ("(run files)" if runs is not None else "embedded"),
        model_meta={"fingerprint": fingerprint_of(st_model)} if st_model is not None else None,
        settings=search.settings,
        work_dir=search.work,
        runs=_run_files(runs, pools) if runs is not None else None,
        progress=RichProgress(console),
        render=retrieval_report.report_files,
        **facts,
    )
    Console().print(retrieval_report.rich_table(summary))
    for label, why in summary.get("excluded_groups", {}).items():
        console.print(
            f"[yellow]excluded[/] {escape(label)}: {why['n_queries']} queries, {escape(why['reason'])}"
        )
    console.print(
        f"wrote {escape(str(out))}/metrics.json, report.md, per_query.jsonl" + ("" if runs else ", runs/")
    )
    return summary


@evaluate_app.command("miracl")
@searching
def evaluate_miracl(
    search: SearchOptions,
    langs: Annotated[str | None, typer.Option(help="comma-separated languages (default: all 18)")] = None,
    model: ModelOption = None,
    corpus: Annotated[
        str,
        typer.Option(
            help="hf://datasets/miracl/miracl-corpus, a local folder in its layout, "
            "or a path with {lang} to a corpus.jsonl per language"
        ),
    ] = "hf://datasets/miracl/miracl-corpus",
    revision: Annotated[str | None, typer.Option(help="hub revision of the corpus")] = None,
    runs: Annotated[str | None, typer.Option(help=RunsHelp)] = None,
    out: Annotated[Path, typer.Option(help="output folder (runs/, metrics.json, report.md)")] = Path(
        "runs/evaluate/miracl"
    ),
    data_dir: Annotated[
        Path | None, typer.Option(envvar="LANGMIX_DATA_DIR", help="folder holding miracl/")
    ] = None,
) -> None:
    """MIRACL dev (SPEC §4.2): per-language monolingual search, nDCG@10 and Recall@100 with trec_eval -c."""
    check_output(out)
    pools = miracl_pools(
        split_list(langs), corpus=None if runs else corpus, revision=revision, data_root=data_dir
    )
    console.print(f"[bold]langmix evaluate miracl[/] {', '.join(p.name for p in pools)} → {escape(str(out))}")
    _run_pools(
        pools,
        model=model,
        runs=runs,
        out=out,
        search=search,
        benchmark="miracl-dev",
        extra_config={"corpus": None if runs else corpus, "revision": revision},
    )


@evaluate_app.command("beir")
@searching
def evaluate_beir(
    search: SearchOptions,
    data: Annotated[Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")],
    split: Annotated[str, typer.Option(help="qrels split")] = "test",
    model: ModelOption = None,
    runs: Annotated[str | None, typer.Option(help=RunsHelp + " ({lang}=all without a lang field)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="output folder (default runs/evaluate/beir__<folder>)")
    ] = None,
) -> None:
    """A BEIR-format set: one corpus, queries scored per `lang` field (trec_eval -c), mean and median."""
    pool = beir_pool(data, split)
    out = check_output(out or Path("runs") / "evaluate" / f"beir__{data.resolve().name}")
    where = escape(f"{data} ({split}; {', '.join(pool.groups)}) → {out}")
    console.print(f"[bold]langmix evaluate beir[/] {where}")
    _run_pools(
        [pool],
        model=model,
        runs=runs,
        out=out,
        search=search,
        benchmark=f"beir:{data.resolve().name}:{split}",
        extra_config={"data": str(data.resolve())},
    )
