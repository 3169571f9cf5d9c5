"""Is scoring the 132 LAReQA settings nearly free? Whole protocol vs encoding alone, in one run.

Measures on the embedded model over full XQuAD-R (or --dataset / --max-questions for a quick look):
  1. encoding alone: every question and candidate text encoded once (no cache), nothing else;
  2. the whole protocol (load, encode, score all settings), also without the cache;
and prints the ratio (goal <= 1.10), the number of texts the encoder saw against a design that
re-encodes queries and pool for every setting, and the process's peak RSS (goal <= 4 GB).

    python benchmarks/eval_speed.py [--dataset xquad-r] [--max-questions N] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from langmix.data.lareqa import load_lareqa
from langmix.evaluation.api import LareqaOptions, run_lareqa
from langmix.models.encoder import Encoder
from langmix.models.loading import load_model


def per_setting_encoder_texts(data) -> int:
    """Texts a per-setting design encodes: queries + pool for every Mo./Cr. pair and every Mul. row."""
    rel = data.relevant()
    n_lang = len(data.languages)
    pool = np.bincount(data.c_lang, minlength=n_lang)
    total = 0
    for x in range(n_lang):
        mine = rel[data.q_lang == x]
        for y in range(n_lang):
            n_q = int((mine[:, y] >= 0).sum())
            if n_q:
                total += n_q + int(pool[y])
        total += len(mine) + data.n_candidates
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="xquad-r")
    parser.add_argument("--max-questions", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    model = load_model("embedded")
    data = load_lareqa(args.dataset, max_questions=args.max_questions)

    t0 = time.perf_counter()
    encoder = Encoder(model, batch_size=args.batch_size)  # no cache, like the protocol run below
    encoder.encode(data.q_text, "query")
    encoder.encode(data.candidate_texts(), "passage")
    encode_only = time.perf_counter() - t0

    options = LareqaOptions(
        dataset=args.dataset, max_questions=args.max_questions, batch_size=args.batch_size, use_cache=False
    )
    t1 = time.perf_counter()
    run = run_lareqa(model, options)
    protocol = time.perf_counter() - t1

    ours = run.encoding.encoded
    naive = per_setting_encoder_texts(data)
    figures = {
        "dataset": args.dataset,
        "questions": data.n_questions,
        "candidates": data.n_candidates,
        "settings": run.result.settings_count(),
        "encode_only_s": round(encode_only, 2),
        "protocol_s": round(protocol, 2),
        "protocol_phases_s": {k: round(v, 2) for k, v in run.timings.items()},
        "ratio_protocol_over_encode": round(protocol / encode_only, 3),
        # the same ratio from the protocol's own phases: immune to load changes between the two timings
        "ratio_protocol_over_its_encode_phase": round(run.timings["total_s"] / run.timings["encode_s"], 4),
        "texts_encoded": ours,
        "texts_encoded_batches": run.encoding.batches,
        "texts_per_setting_design": naive,
        "encoder_work_ratio": round(naive / ours, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "texts_per_s": round(ours / encode_only, 1),
    }
    print(json.dumps(figures, indent=2))
    print(
        f"\nprotocol / encoding alone = {figures['ratio_protocol_over_encode']:.3f} (goal <= 1.10); "
        f"encoder saw {ours} texts vs {naive} for per-setting re-encoding "
        f"({figures['encoder_work_ratio']}x less); "
        f"peak RSS {figures['peak_rss_gb']} GB (goal <= 4)"
    )
    if args.json:
        from langmix.io import write_json

        write_json(args.json, figures)


if __name__ == "__main__":
    main()
