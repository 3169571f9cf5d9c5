"""Which encode batch size and how many torch threads are fastest, per precision? (issue 11, item 4)

Encodes the same XQuAD-R sentences (default: 500 German + 500 Chinese pool sentences, the issue's set) with
the embedded e5-small through langmix's Encoder (no cache; sort-by-length batching as always) for every
precision x threads x batch size, each after a warm-up batch, and prints texts per second and the ratio
to a baseline (``--baseline-batch``, default langmix's ENCODE_BATCH_SIZE; torch's default threads) in the
same run. Threads are set with ``torch.set_num_threads``; on a machine with other work the single-thread
rows are the robust choice.

    python benchmarks/encode_speed.py                                   # ~10 min on 2 quiet cores
    python benchmarks/encode_speed.py --texts 200 --batch-sizes 32,64    # quick look
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from langmix.data.lareqa import load_lareqa
from langmix.io import write_json
from langmix.models.encoder import ENCODE_BATCH_SIZE, Encoder
from langmix.models.loading import load_model
from langmix.models.precision import device_description, resolve_precision


def sentences(languages: list[str], per_language: int) -> list[str]:
    data = load_lareqa("xquad-r", languages=languages)
    texts = data.candidate_texts()
    out = []
    for x, lang in enumerate(data.languages):
        mine = [t for t, c in zip(texts, data.c_lang, strict=True) if c == x]
        out += mine[:per_language]
        if len(mine) < per_language:
            raise SystemExit(f"{lang}: only {len(mine)} pool sentences")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default="de,zh")
    parser.add_argument("--texts", type=int, default=1000, help="in all, split evenly over --languages")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-sizes", default="16,32,64,128")
    parser.add_argument("--threads", default=None, help=f"comma-separated (default 1 and {os.cpu_count()})")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument(
        "--baseline-batch", type=int, default=ENCODE_BATCH_SIZE, help="the batch size the ratios are against"
    )
    parser.add_argument("--json", default="runs/bench/encode_speed.json")
    args = parser.parse_args()
    langs = [x for x in args.languages.split(",") if x]
    texts = sentences(langs, args.texts // len(langs))
    model = load_model("embedded")
    model.max_seq_length = args.max_length
    default_threads = torch.get_num_threads()
    threads = [int(t) for t in (args.threads or f"1,{os.cpu_count()}").split(",")]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    results = []
    for requested in args.precisions.split(","):
        precision = resolve_precision(requested)
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            for batch in batches:
                encoder = Encoder(model, batch_size=batch, precision=precision)
                encoder.encode(texts[:batch], "passage")  # warm-up: the cast copy, allocator, kernels
                start = time.perf_counter()
                encoder.encode(texts, "passage")
                wall = time.perf_counter() - start
                row = {"precision": precision, "threads": n_threads, "batch_size": batch, "wall_s": wall}
                row["texts_per_s"] = len(texts) / wall
                results.append(row)
                print(f"{precision} threads {n_threads} batch {batch:4d}: {row['texts_per_s']:7.1f} texts/s")
    torch.set_num_threads(default_threads)
    print(f"\nratio to the baseline (batch {args.baseline_batch}, {default_threads} threads) per precision:")
    for precision in dict.fromkeys(r["precision"] for r in results):
        mine = [r for r in results if r["precision"] == precision]
        base = next(
            (r for r in mine if (r["batch_size"], r["threads"]) == (args.baseline_batch, default_threads)),
            None,
        )
        best = max(mine, key=lambda r: r["texts_per_s"])
        for r in mine:
            r["vs_default"] = r["texts_per_s"] / base["texts_per_s"] if base else None
        print(
            f"  {precision}: best threads {best['threads']} batch {best['batch_size']} "
            f"{best['texts_per_s']:.1f} texts/s = {best['vs_default']:.2f}x the default"
            if base
            else f"  {precision}: no default row measured"
        )
    write_json(
        args.json,
        {
            "texts": len(texts),
            "languages": langs,
            "max_length": args.max_length,
            "hardware": device_description("cpu"),
            "cpu_count": os.cpu_count(),
            "torch_default_threads": default_threads,
            "load_average": os.getloadavg(),
            "results": results,
        },
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
