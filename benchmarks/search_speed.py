"""Search speed and recall of langmix's faiss options, and peak memory of sharded encoding, in one run.

Part 1 — search: a synthetic corpus of N × 384 unit vectors drawn from a Gaussian mixture (1,000
components of Zipf-like size, anisotropic noise of low effective dimension; see ``Mixture``) is written as
float16 shards with langmix's ShardWriter, then indexed with langmix's build_index:

- exact (``flat``, IndexFlatIP): the ground truth top-100 of Q held-out queries from the same mixture;
- IVF (``IVF<nlist>,Flat``, trained on a uniform sample) at several nprobe;
- HNSW (``HNSW32,Flat``) on a random subset (``--hnsw-n``; its build is slow on 2 cores), compared with
  exact search on that same subset.

Reported: build time, queries per second (all queries in one batch, faiss's threads), recall@100 against
exact search (|approx top-100 ∩ exact top-100| / 100, mean over queries), and the index's size in memory.

Part 2 — encoding memory: ``encode_corpus`` streams a 10k- and a 100k-passage ``corpus.jsonl`` through a tiny
random-weight sentence-transformers model (BERT 2 × 32 hidden + a 384-d projection, so the vectors are as
wide as multilingual-e5-small's), each in a fresh process; ``streamed-numpy`` replaces the model by numpy
random vectors to show langmix's own footprint without torch's allocator. Peak RSS while encoding (VmHWM,
reset after start-up) must not grow with the corpus; the same corpora encoded the naive way (whole corpus in
memory, one ``model.encode`` call) are measured for contrast.

Usage::

    python benchmarks/search_speed.py            # 1M × 384, 1,000 queries, HNSW on 100k: ~10 min on 2 cores
    python benchmarks/search_speed.py --quick    # 100k corpus, 200 queries, memory at 5k vs 20k: ~3 min
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 384


# -- synthetic data ------------------------------------------------------------------------------------
class Mixture:
    """Unit vectors x = normalise(c_k + spread * (g * spectrum) @ R / sqrt(dim)).

    1,000 components c_k (random unit centres, Zipf-like sizes), noise with a decaying spectrum (1/j, in a
    random rotation R shared by all components) so the data has a low effective dimension as real embeddings
    do. With spread 3 the mean cosine of a query to its 1st / 10th / 100th neighbour is about 0.85 / 0.80 /
    0.76 and to a random passage about 0: neighbourhoods are graded, not a few separated blobs (which IVF
    would find perfectly), nor isotropic 384-d noise (where no index does well).
    """

    def __init__(self, components: int, dim: int, spread: float = 3.0, seed: int = 0):
        rng = np.random.default_rng(seed)
        centres = rng.standard_normal((components, dim)).astype(np.float32)
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        spectrum = 1.0 / np.arange(1, dim + 1)
        self.spectrum = (spectrum * np.sqrt(dim / np.sum(spectrum**2))).astype(np.float32)
        self.rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
        weights = 1.0 / np.arange(1, components + 1) ** 0.5
        self.weights = rng.permutation(weights / weights.sum())
        self.spread, self.dim = spread, dim

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.choice(len(self.centres), size=n, p=self.weights)
        noise = rng.standard_normal((n, self.dim), dtype=np.float32) * self.spectrum
        x = self.centres[k] + np.float32(self.spread / np.sqrt(self.dim)) * (noise @ self.rotation)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x


def write_corpus(folder: Path, mixture: Mixture, n: int, block: int = 100_000):
    from langmix.retrieval.shards import ShardedEmbeddings, ShardWriter

    writer = ShardWriter(folder, dim=mixture.dim, dtype="float16", shard_size=block, overwrite=True)
    rng = np.random.default_rng(1)
    for start in range(0, n, block):
        rows = min(block, n - start)
        shard = writer.open_shard()
        shard.append([f"d{i}" for i in range(start, start + rows)], mixture.sample(rows, rng))
        writer.commit(shard)
    writer.finish()
    return ShardedEmbeddings(folder)


def recall_at(approx: np.ndarray, exact: np.ndarray) -> float:
    k = exact.shape[1]
    return float(
        np.mean([len(set(a) & set(e)) / k for a, e in zip(approx.tolist(), exact.tolist(), strict=True)])
    )


def timed_search(index, queries: np.ndarray, k: int, **params) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    _, positions = index.search(queries, k, **params)
    return positions, len(queries) / (time.perf_counter() - t0)


def index_bytes(index, work: Path) -> int:
    """Size of the saved faiss index (vectors + cells or graph links): what it holds in memory."""
    import faiss

    path = work / "size.faiss"
    faiss.write_index(index.index, str(path))
    size = path.stat().st_size
    path.unlink()
    return size


# -- part 1 --------------------------------------------------------------------------------------------
def search_benchmark(args, work: Path) -> list[dict]:
    from langmix.retrieval.index import IndexConfig, build_index

    mixture = Mixture(1000, DIM)
    t0 = time.perf_counter()
    emb = write_corpus(work / "emb", mixture, args.n)
    print(f"corpus: {args.n:,} × {DIM} float16 in {len(emb.shards)} shards, {time.perf_counter() - t0:.1f}s")
    queries = mixture.sample(args.queries, np.random.default_rng(2))
    rows: list[dict] = []

    exact = build_index(emb)
    truth, qps = timed_search(exact, queries, args.k)
    scores, _ = exact.search(queries, args.k)
    print(
        f"mean cosine of a query to its 1st / 10th / {args.k}th neighbour: {scores[:, 0].mean():.3f} / "
        f"{scores[:, 9].mean():.3f} / {scores[:, -1].mean():.3f}; to a random vector: "
        f"{float((queries[:100] @ emb.rows(np.arange(1000)).T).mean()):.3f}"
    )
    rows.append(
        {
            "index": "exact (Flat IP)",
            "n": args.n,
            "params": "",
            "build_s": exact.info["build_seconds"],
            "qps": qps,
            f"recall@{args.k}": 1.0,
            "mem_mb": index_bytes(exact, work) / 2**20,
        }
    )
    print(f"exact: built in {exact.info['build_seconds']:.1f}s, {qps:.0f} queries/s")
    del exact

    ivf = build_index(emb, IndexConfig(kind="ivf", nlist=args.nlist, train_size=args.train_size))
    print(f"ivf: built in {ivf.info['build_seconds']:.1f}s (training {ivf.info['train_seconds']:.1f}s)")
    for nprobe in args.nprobe:
        got, qps = timed_search(ivf, queries, args.k, nprobe=nprobe)
        rows.append(
            {
                "index": f"IVF{args.nlist},Flat",
                "n": args.n,
                "params": f"nprobe={nprobe}",
                "build_s": ivf.info["build_seconds"],
                "qps": qps,
                f"recall@{args.k}": recall_at(got, truth),
                "mem_mb": index_bytes(ivf, work) / 2**20,
            }
        )
    del ivf

    # HNSW on a subset, against exact search on the same subset
    subset = np.sort(np.random.default_rng(3).choice(args.n, size=min(args.hnsw_n, args.n), replace=False))
    vectors = emb.rows(subset)
    exact_sub = build_index(vectors)
    truth_sub, qps = timed_search(exact_sub, queries, args.k)
    rows.append(
        {
            "index": "exact (Flat IP)",
            "n": len(subset),
            "params": "",
            "build_s": exact_sub.info["build_seconds"],
            "qps": qps,
            f"recall@{args.k}": 1.0,
            "mem_mb": index_bytes(exact_sub, work) / 2**20,
        }
    )
    hnsw = build_index(vectors, IndexConfig(kind="hnsw", m=32, ef_construction=args.ef_construction))
    rate = len(subset) / hnsw.info["build_seconds"]
    print(
        f"hnsw: {len(subset):,} vectors in {hnsw.info['build_seconds']:.1f}s ({rate:.0f}/s; "
        f"1M would take ~{args.n / rate / 60:.0f} min on this machine)"
    )
    for ef in args.ef_search:
        got, qps = timed_search(hnsw, queries, args.k, ef_search=ef)
        rows.append(
            {
                "index": f"HNSW32,Flat (efC={args.ef_construction})",
                "n": len(subset),
                "params": f"ef={ef}",
                "build_s": hnsw.info["build_seconds"],
                "qps": qps,
                f"recall@{args.k}": recall_at(got, truth_sub),
                "mem_mb": index_bytes(hnsw, work) / 2**20,
            }
        )
    return rows


# -- part 2 --------------------------------------------------------------------------------------------
WORDS = [f"{a}{b}{c}" for a in "bdfgklmnprstvz" for b in "aeiou" for c in ("", "n", "ra", "li", "to")]


def build_model(folder: Path) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        [" ".join(WORDS)], trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]"])
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", model_max_length=64
    )
    fast.save_pretrained(folder / "hf")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=66,
    )
    BertModel(config).save_pretrained(folder / "hf")
    model = SentenceTransformer(
        modules=[
            Transformer(str(folder / "hf"), max_seq_length=32),
            Pooling(32, "mean"),
            Dense(32, DIM),
            Normalize(),
        ]
    )
    model.save(str(folder / "st"))
    return folder / "st"


def write_text_corpus(path: Path, n: int) -> None:
    rng = np.random.default_rng(4)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            words = rng.choice(len(WORDS), size=rng.integers(30, 60))
            f.write(
                json.dumps(
                    {
                        "_id": f"{i // 7}#{i % 7}",
                        "title": WORDS[i % len(WORDS)],
                        "text": " ".join(WORDS[w] for w in words),
                    }
                )
                + "\n"
            )


def reset_peak_rss() -> None:
    """Reset this process's peak RSS (Linux >= 4.0), so the peak covers the encoding only."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss() -> int:
    """Peak RSS in bytes: VmHWM of this process's address space. (getrusage's ru_maxrss would be wrong
    here: Linux carries it over fork and exec, so a child reports its parent's peak when that is higher.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


class NumpyEncoder:
    """384-d pseudo-random unit vectors at numpy speed: isolates langmix's own memory from torch's."""

    prompts: dict[str, str] = {}

    def get_embedding_dimension(self) -> int:
        return DIM

    def encode(self, sentences, **kwargs):
        x = np.random.default_rng(len(sentences)).standard_normal((len(sentences), DIM), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def child(mode: str, corpus: str, model_dir: str, out: str) -> None:
    """One measurement in a fresh process: RSS after start-up, then the peak RSS while encoding."""
    import psutil
    from sentence_transformers import SentenceTransformer

    from langmix.data.beir import iter_corpus, load_corpus
    from langmix.retrieval.encode import encode_corpus

    model = SentenceTransformer(model_dir, device="cpu")
    model.encode(["warm up " * 20] * 256, batch_size=256)
    baseline = psutil.Process().memory_info().rss
    reset_peak_rss()
    t0 = time.perf_counter()
    if mode.startswith("streamed"):
        encoder = NumpyEncoder() if mode == "streamed-numpy" else model
        result = encode_corpus(encoder, iter_corpus(corpus), out, batch_size=256, meta={"model": mode})
        n = result.n_total
    else:  # the naive way: whole corpus and all embeddings in memory at once
        texts = [p.contents for p in load_corpus(corpus)]
        n = len(model.encode(texts, batch_size=256, normalize_embeddings=True))
    seconds = time.perf_counter() - t0
    peak = peak_rss()
    print(
        json.dumps(
            {
                "mode": mode,
                "n": n,
                "baseline_mb": baseline / 2**20,
                "peak_mb": peak / 2**20,
                "seconds": seconds,
            }
        )
    )


def memory_benchmark(args, work: Path) -> list[dict]:
    model_dir = build_model(work / "model")
    rows = []
    for n in args.mem_sizes:
        corpus = work / f"corpus-{n}.jsonl"
        write_text_corpus(corpus, n)
        for mode in ("streamed", "in-memory", "streamed-numpy"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                mode,
                str(corpus),
                str(model_dir),
                str(work / f"enc-{n}-{mode}"),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["corpus_mb"] = corpus.stat().st_size / 2**20
            rows.append(row)
            print(
                f"encode {mode:14s} {n:>7,} passages: peak RSS {row['peak_mb']:.0f} MB "
                f"(+{row['peak_mb'] - row['baseline_mb']:.0f} MB over start-up), {row['seconds']:.1f}s"
            )
    return rows


# -- report --------------------------------------------------------------------------------------------
def print_tables(search_rows: list[dict], memory_rows: list[dict], k: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    table = Table(
        title=f"search: {len(search_rows)} settings, recall@{k} against exact search on the same vectors"
    )
    for column in ("index", "vectors", "params", "build s", "queries/s", f"recall@{k}", "index MB"):
        table.add_column(column, justify="left" if column in ("index", "params") else "right")
    exact_qps = {r["n"]: r["qps"] for r in search_rows if r["index"].startswith("exact")}
    for r in search_rows:
        speedup = r["qps"] / exact_qps[r["n"]]
        table.add_row(
            r["index"],
            f"{r['n']:,}",
            r["params"],
            f"{r['build_s']:.1f}",
            f"{r['qps']:.0f} ({speedup:.1f}×)",
            f"{r[f'recall@{k}']:.3f}",
            f"{r['mem_mb']:.0f}",
        )
    console.print(table)
    table = Table(title="encoding: peak RSS (fresh process per run)")
    for column in ("mode", "passages", "corpus MB", "start-up RSS MB", "peak RSS MB", "growth MB", "s"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for r in memory_rows:
        table.add_row(
            r["mode"],
            f"{r['n']:,}",
            f"{r['corpus_mb']:.1f}",
            f"{r['baseline_mb']:.0f}",
            f"{r['peak_mb']:.0f}",
            f"{r['peak_mb'] - r['baseline_mb']:.0f}",
            f"{r['seconds']:.1f}",
        )
    console.print(table)
    for mode in ("streamed", "in-memory", "streamed-numpy"):
        peaks = [r["peak_mb"] for r in memory_rows if r["mode"] == mode]
        sizes = [r["n"] for r in memory_rows if r["mode"] == mode]
        console.print(
            f"{mode}: peak RSS at {sizes[-1]:,} / at {sizes[0]:,} passages = {peaks[-1] / peaks[0]:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version (~3 min)")
    parser.add_argument("--n", type=int, help="corpus vectors (default 1,000,000; quick 100,000)")
    parser.add_argument("--queries", type=int, help="queries (default 1,000; quick 200)")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--nlist", type=int, help="IVF cells (default 4096; quick 256)")
    parser.add_argument("--train-size", type=int, help="IVF training sample (default 32 * nlist)")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--hnsw-n", type=int, help="HNSW subset size (default 100,000; quick 20,000)")
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--mem-sizes", type=int, nargs=2, help="passages for the memory runs (10k 100k)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    q = args.quick
    args.n = args.n or (100_000 if q else 1_000_000)
    args.queries = args.queries or (200 if q else 1_000)
    args.nlist = args.nlist or (256 if q else 4096)
    args.train_size = args.train_size or 32 * args.nlist
    args.hnsw_n = args.hnsw_n or (20_000 if q else 100_000)
    args.mem_sizes = args.mem_sizes or ([5_000, 20_000] if q else [10_000, 100_000])

    import faiss

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {load}"
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="langmix-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        search_rows = search_benchmark(args, work)
        search_peak = peak_rss() / 2**20
        memory_rows = memory_benchmark(args, work)
    print_tables(search_rows, memory_rows, args.k)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"whole run: {time.perf_counter() - start:.0f}s; peak RSS of the search part {search_peak:.0f} MB; "
        f"load average now {load} (other jobs share the machine)"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "search": search_rows,
                    "memory": memory_rows,
                    "search_peak_rss_mb": search_peak,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
