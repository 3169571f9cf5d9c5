"""Commands of the retrieval stage: ``encode``, ``index``, ``search`` (``evaluate miracl|beir``: evaluate.py).

Each stage reads and writes plain files (embedding shards, a faiss index folder, TREC runs), so stages can
run on different machines; the work is in ``langmix.retrieval`` and ``langmix.data.runfiles``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from langmix.cli.app import app, check_output, console, split_list
from langmix.errors import LangmixError, reading
from langmix.models.encoder import ENCODE_BATCH_SIZE
from langmix.models.precision import CHOICES, DEFAULT_PRECISION
from langmix.progress import RichProgress
from langmix.retrieval.index import INDEX_KINDS
from langmix.retrieval.shards import DTYPES

DEVICES_HELP = (
    "comma-separated devices for sentence-transformers' multi-process pool, e.g. cpu,cpu or cuda:0,cuda:1"
)

# Options shared by several commands, declared once (typer reads the Annotated metadata of each alias).
ModelOption = Annotated[str | None, typer.Option(help="'embedded', a local path or a Hugging Face id")]
WorkOption = Annotated[Path | None, typer.Option(help="embeddings and indexes (default <out>/work; reused)")]
HitsOption = Annotated[int, typer.Option(min=1, help="hits per query")]


def _choice(*choices: str):
    """A parse-time check that a string option is one of ``choices`` (before any model is loaded)."""

    def check(value: str) -> str:
        if value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return check


IndexKindOption = Annotated[
    str, typer.Option(help="flat (exact) | ivf | hnsw", callback=_choice(*INDEX_KINDS))
]
NprobeOption = Annotated[int, typer.Option(min=1, help="IVF cells searched per query")]
MetricsOption = Annotated[str | None, typer.Option(help="default nDCG@10,Recall@100,MRR@10,MAP")]
ShardSizeOption = Annotated[int, typer.Option(min=1, help="passages per shard (the unit of resumption)")]
BatchSizeOption = Annotated[int, typer.Option(min=1, help="texts per encoder batch")]
DtypeOption = Annotated[
    str, typer.Option(help="float16 | float32 embedding shards", callback=_choice(*DTYPES))
]
DevicesOption = Annotated[str | None, typer.Option(help=DEVICES_HELP)]
MaxLengthOption = Annotated[int | None, typer.Option(min=8, help="max tokens per text")]
OverwriteOption = Annotated[bool, typer.Option(help="re-encode and re-index from scratch")]
PRECISION_HELP = (
    "model precision: auto (bf16 on a GPU that supports it or a CPU with native bf16, else fp32) | fp32 | "
    f"bf16 | fp16; default {DEFAULT_PRECISION}, the precision of the published numbers"
)


def check_precision(value: str | None) -> str | None:
    """Refuse an unknown ``--precision`` before any model is loaded."""
    if value is not None and value.lower() not in CHOICES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(CHOICES)}")
    return value.lower() if value is not None else None


PrecisionOption = Annotated[str, typer.Option(help=PRECISION_HELP, callback=check_precision)]


def load_encoder(model: str, max_length: int | None):
    """The model of a retrieval command, at full precision: its fingerprint names it whatever the precision
    it then runs at (:class:`~langmix.models.encoder.Encoder` casts a copy)."""
    from langmix.models.loading import load_model

    with reading(model, "model", "check --model, or re-download / re-train it"):
        return load_model(model, max_seq_length=max_length)


def fingerprint_of(model: Any) -> str | None:
    if not hasattr(model, "state_dict"):
        return None
    from langmix.models.cache import model_fingerprint

    return model_fingerprint(model)


def _passages(corpus: str, revision: str | None) -> tuple[Iterable, int | None, str]:
    """``corpus``: a corpus.jsonl[.gz] / BEIR folder, or ``miracl:<lang>[@<local folder>]`` (default: hub)."""
    from langmix.data.beir import iter_corpus
    from langmix.data.miracl import MIRACL_CORPUS_SIZES, MIRACL_HUB, iter_miracl_corpus

    m = re.fullmatch(r"miracl:([a-z]{2})(?:@(.+))?", corpus)
    if m:
        lang, source = m.group(1), m.group(2) or MIRACL_HUB
        total = MIRACL_CORPUS_SIZES.get(lang) if source == MIRACL_HUB else None
        return iter_miracl_corpus(lang, source=source, revision=revision), total, corpus
    path = Path(corpus)
    if not path.exists():
        raise LangmixError(
            f"{corpus}: no such corpus file or folder (or use miracl:<lang> for the MIRACL corpus)"
        )
    return iter_corpus(path), None, str(path.resolve())


@app.command()
def encode(
    corpus: Annotated[
        str, typer.Argument(help="corpus.jsonl[.gz], a BEIR folder, or miracl:<lang>[@<folder>]")
    ],
    out: Annotated[Path, typer.Option(help="embeddings folder (resumed if it holds finished shards)")],
    model: ModelOption = "embedded",
    shard_size: ShardSizeOption = 100_000,
    batch_size: BatchSizeOption = ENCODE_BATCH_SIZE,
    dtype: DtypeOption = "float16",
    devices: DevicesOption = None,
    max_length: MaxLengthOption = None,
    precision: PrecisionOption = DEFAULT_PRECISION,
    prompt: Annotated[
        str | None, typer.Option(help="passage prefix (default: the model's passage prompt)")
    ] = None,
    revision: Annotated[str | None, typer.Option(help="hub revision of the MIRACL corpus")] = None,
    overwrite: Annotated[bool, typer.Option(help="delete existing shards and start again")] = False,
) -> None:
    """Encode a corpus into float16/float32 shards (.npy + ids), resumable after an interruption."""
    from langmix.retrieval.encode import encode_corpus

    check_output(out)
    passages, total, source = _passages(corpus, revision)
    st_model = load_encoder(model, max_length)
    meta = {
        "model": model,
        "fingerprint": fingerprint_of(st_model),
        "max_seq_length": getattr(st_model, "max_seq_length", None),
        "corpus": source,
    }
    console.print(f"[bold]langmix encode[/] {escape(f'{source} · model {model} → {out}')}")
    result = encode_corpus(
        st_model,
        passages,
        out,
        shard_size=shard_size,
        batch_size=batch_size,
        dtype=dtype,
        devices=split_list(devices),
        prompt=prompt,
        meta=meta,
        overwrite=overwrite,
        source=source,
        progress=RichProgress(console),
        total=total,
        precision=precision,
    )
    resumed = f" ({result.n_resumed} from finished shards)" if result.n_resumed else ""
    console.print(f"{result.n_total} passages{resumed} in {result.n_shards} shards → {escape(str(out))}")


@app.command()
def index(
    embeddings: Annotated[Path, typer.Argument(help="embeddings folder written by `langmix encode`")],
    out: Annotated[Path, typer.Option(help="index folder")],
    kind: IndexKindOption = "flat",
    nlist: Annotated[int | None, typer.Option(min=1, help="IVF cells (default 4*sqrt(n))")] = None,
    nprobe: Annotated[
        int, typer.Option(min=1, help="IVF cells searched per query (default for search)")
    ] = 32,
    train_size: Annotated[
        int | None, typer.Option(min=1, help="IVF training sample (default 64*nlist)")
    ] = None,
    m: Annotated[int, typer.Option(min=2, help="HNSW neighbours per node")] = 32,
    ef_construction: Annotated[int, typer.Option(min=1, help="HNSW build breadth")] = 80,
    ef_search: Annotated[int, typer.Option(min=1, help="HNSW search breadth (default for search)")] = 128,
) -> None:
    """Build a faiss index (exact inner product, IVF or HNSW) from embedding shards (no model runs here: the
    passages' precision is the one `langmix encode` recorded)."""
    from langmix.retrieval.index import IndexConfig, build_index
    from langmix.retrieval.shards import ShardedEmbeddings

    config = IndexConfig(
        kind=kind,
        nlist=nlist,
        nprobe=nprobe,
        train_size=train_size,
        m=m,
        ef_construction=ef_construction,
        ef_search=ef_search,
    )
    check_output(out)
    with reading(embeddings, "embeddings", "encode them again with `langmix encode --overwrite`"):
        emb = ShardedEmbeddings(embeddings)
        for shard in emb.shards:  # a truncated or corrupt shard fails here, named, not inside faiss
            emb.shard_array(shard)
    shape = f"{len(emb)} × {emb.dim} {emb.dtype}"
    console.print(f"[bold]langmix index[/] {escape(f'{embeddings} ({shape}) · {kind} → {out}')}")
    built = build_index(emb, config, progress=RichProgress(console))
    built.save(out)
    seconds = built.info["build_seconds"]
    done = f"{len(built)} passages indexed ({built.info['factory']}) in {seconds:.1f}s → {out}"
    console.print(escape(done))


@app.command()
def search(
    index_dir: Annotated[
        Path, typer.Argument(metavar="INDEX", help="index folder written by `langmix index`")
    ],
    query: Annotated[str | None, typer.Option(help="one query typed on the command line")] = None,
    queries: Annotated[Path | None, typer.Option(help="queries.jsonl or qid<TAB>text TSV")] = None,
    model: Annotated[
        str | None, typer.Option(help="encoder (default: the one recorded in the index)")
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="hits per query")] = 10,
    out: Annotated[Path | None, typer.Option(help="write the hits here (TREC run or JSON)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="trec | json")] = "trec",
    corpus: Annotated[
        Path | None, typer.Option(help="corpus.jsonl[.gz] or BEIR folder, for hit texts")
    ] = None,
    nprobe: Annotated[int | None, typer.Option(min=1, help="IVF cells searched per query")] = None,
    ef_search: Annotated[int | None, typer.Option(min=1, help="HNSW search breadth")] = None,
    max_length: Annotated[int | None, typer.Option(min=8, help="max tokens per query")] = None,
    prompt: Annotated[
        str | None, typer.Option(help="query prefix (default: the model's query prompt)")
    ] = None,
    batch_size: BatchSizeOption = ENCODE_BATCH_SIZE,
    precision: Annotated[
        str | None,
        typer.Option(
            help="query encoder precision: auto | fp32 | bf16 | fp16 (default: the passages' own, as the "
            "index records it; fp32 where it records none)",
            callback=check_precision,
        ),
    ] = None,
    tag: Annotated[str, typer.Option(help="run tag (last TREC column)")] = "langmix",
    force: Annotated[
        bool, typer.Option(help="search even if the model differs from the one that encoded")
    ] = False,
) -> None:
    """Search an index with a query file or one query; write a TREC run / JSON, or print the hits."""
    from langmix.data.beir import load_queries
    from langmix.data.runfiles import OUTPUT_FORMATS, write_results
    from langmix.retrieval.index import SearchIndex
    from langmix.retrieval.search import Searcher, open_docstore

    if (query is None) == (queries is None):
        raise LangmixError("give exactly one of --query TEXT or --queries FILE")
    if fmt not in OUTPUT_FORMATS:
        raise LangmixError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}")
    if out is not None:
        check_output(out, folder=False)
    with reading(index_dir, "index", "rebuild it with `langmix index`"):
        idx = SearchIndex.load(index_dir)
    st_model = _index_model(idx, index_dir, model, max_length, force)
    docs = open_docstore(corpus) if corpus is not None else None
    searcher = Searcher(
        idx,
        st_model,
        docs=docs,
        query_prompt=prompt,
        batch_size=batch_size,
        nprobe=nprobe,
        ef_search=ef_search,
        precision=precision or (idx.info.get("meta") or {}).get("precision", "fp32"),
    )
    if query is not None:
        results = {"query": searcher.search(query, k)}
    else:
        assert queries is not None
        q = load_queries(queries)
        results = searcher.search_many(q, k, progress=RichProgress(console))
    if out is not None:
        write_results(out, results, fmt, tag)
        console.print(escape(f"{len(results)} queries × top {k} → {out}"))
    elif query is not None:
        Console().print(_hits_table(f"top {k} for {query!r}", results["query"]))
    else:
        from langmix.data.runfiles import format_trec_run

        typer.echo(
            format_trec_run({qid: [(h.doc_id, h.score) for h in hits] for qid, hits in results.items()}, tag),
            nl=False,
        )


def _index_model(index: Any, index_dir: Path, model: str | None, max_length: int | None, force: bool) -> Any:
    """The model to search ``index`` with: ``model``, else the one it records; refused if it is not the
    model that encoded the corpus (by weight fingerprint) unless ``force``."""
    meta = index.info.get("meta") or {}
    model_name = model or meta.get("model")
    if not model_name:
        raise LangmixError(f"{index_dir}: the index does not record its model; pass --model")
    st_model = load_encoder(model_name, max_length)
    recorded = meta.get("fingerprint")
    if recorded and not force and fingerprint_of(st_model) != recorded:
        raise LangmixError(
            f"model {model_name!r} is not the model that encoded {index_dir} ({meta.get('model')!r}); "
            "pass --force to search anyway"
        )
    return st_model


def _hits_table(title: str, hits: list[Any]) -> Table:
    table = Table(title=Text(title))
    for column in ("rank", "doc id", "score", "text"):
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    for rank, hit in enumerate(hits, start=1):  # Text: ids and passages are shown as written, never as markup
        table.add_row(str(rank), Text(hit.doc_id), f"{hit.score:.4f}", Text((hit.text or "")[:160]))
    return table
