"""Is scoring the 132 LAReQA settings nearly free, and what does each precision cost and change? One run.

Measures on the embedded model over full XQuAD-R (or --dataset / --languages / --max-questions for a quick
look), the on-disk cache off throughout:
  1. encoding alone at the first precision: every question and candidate text encoded once, nothing else
     (skip with --no-encode-only);
  2. the whole protocol (load, encode, score all settings) at each of --precisions (default fp32,auto);
and prints the protocol / encoding ratio (goal <= 1.10), the texts the encoder saw against a design that
re-encodes queries and pool for every setting, the peak RSS (goal <= 4 GB), and for each precision after the
first: its wall time against the first's (speed-up), and the difference of every headline number (Mo./Cr./
Mul. mAP, R@1, R@10, rank distance). Goal of ``auto`` on a CPU with native bf16: >= 3x faster, every mAP
within 0.002, rank distance within 1%; on a CPU without it, ``auto`` is fp32 (speed-up ~1, no difference).

    python benchmarks/eval_speed.py                                  # full XQuAD-R, fp32 vs auto
    python benchmarks/eval_speed.py --languages en,de --max-questions 10 --no-encode-only   # quick check
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from typing import Any

import numpy as np

from langmix.data.lareqa import load_lareqa
from langmix.evaluation.api import LareqaOptions, run_lareqa
from langmix.evaluation.lareqa_run import metrics_document
from langmix.models.encoder import Encoder
from langmix.models.loading import load_model
from langmix.models.precision import CHOICES, device_description, model_device

MAP_TOLERANCE = 0.002  # the goal: every mAP of auto within this of fp32
RANK_DISTANCE_TOLERANCE = 0.01  # and rank distance within 1%


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


def protocol_run(model, args: argparse.Namespace, precision: str) -> dict[str, Any]:
    """One uncached LAReQA run at ``precision``: wall time, phases, encoder work and headline numbers."""
    options = LareqaOptions(
        dataset=args.dataset,
        languages=args.languages,
        max_questions=args.max_questions,
        batch_size=args.batch_size,
        use_cache=False,
        precision=precision,
    )
    start = time.perf_counter()
    run = run_lareqa(model, options)
    wall = time.perf_counter() - start
    return {
        "requested": precision,
        "precision": run.precision,
        "wall_s": round(wall, 2),
        "phases_s": {k: round(v, 2) for k, v in run.timings.items()},
        "texts_encoded": run.encoding.encoded,
        "batches": run.encoding.batches,
        "headline": metrics_document(run, {"name": "embedded"})["headline"],
        "_run": run,
    }


def label(run: dict[str, Any]) -> str:
    return f"{run['requested']} ({run['precision']})"


def against(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """``other`` against ``base``: speed-up, headline differences (other - base) and the issue's goals."""
    diff = {k: round(other["headline"][k] - v, 6) for k, v in base["headline"].items()}
    maps = {k: d for k, d in diff.items() if k.endswith("_map")}
    rank = base["headline"]["rank_distance"]
    rank_rel = diff["rank_distance"] / rank if rank else 0.0
    return {
        "precision": f"{label(other)} vs {label(base)}",
        "speedup": round(base["wall_s"] / other["wall_s"], 2),
        "headline_diff": diff,
        "max_abs_map_diff": round(max(abs(d) for d in maps.values()), 6),
        "rank_distance_rel_diff": round(rank_rel, 5),
        "within_tolerance": max(abs(d) for d in maps.values()) <= MAP_TOLERANCE
        and abs(rank_rel) <= RANK_DISTANCE_TOLERANCE,
    }


def encode_only(model, data, args: argparse.Namespace, precision: str) -> float:
    encoder = Encoder(model, batch_size=args.batch_size, precision=precision)  # no cache, like the runs
    start = time.perf_counter()
    encoder.encode(data.q_text, "query")
    encoder.encode(data.candidate_texts(), "passage")
    return time.perf_counter() - start


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="xquad-r")
    parser.add_argument("--languages", type=lambda s: [x for x in s.split(",") if x], default=None)
    parser.add_argument("--max-questions", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precisions", default="fp32,auto", help=f"comma-separated, of {', '.join(CHOICES)}")
    parser.add_argument("--no-encode-only", action="store_true", help="skip the encoding-alone timing")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    args.precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if not args.precisions or any(p not in CHOICES for p in args.precisions):
        parser.error(f"--precisions: comma-separated values of {', '.join(CHOICES)}")
    return args


def main() -> None:
    args = parse_args()
    model = load_model("embedded")
    data = load_lareqa(args.dataset, languages=args.languages, max_questions=args.max_questions)
    encode_s = None if args.no_encode_only else encode_only(model, data, args, args.precisions[0])
    runs = [protocol_run(model, args, p) for p in args.precisions]
    first = runs[0]
    naive = per_setting_encoder_texts(data)
    figures: dict[str, Any] = {
        "dataset": args.dataset,
        "languages": list(data.languages),
        "questions": data.n_questions,
        "candidates": data.n_candidates,
        "settings": first["_run"].result.settings_count(),
        "device": device_description(model_device(model)),
        "runs": [{k: v for k, v in r.items() if k != "_run"} for r in runs],
        "comparisons": [against(first, other) for other in runs[1:]],
        "texts_per_setting_design": naive,
        "encoder_work_ratio": round(naive / first["texts_encoded"], 1),
        # the protocol's own phases: immune to load changes between two timings
        "ratio_protocol_over_its_encode_phase": round(
            first["phases_s"]["total_s"] / first["phases_s"]["encode_s"], 4
        ),
    }
    if encode_s is not None:
        figures["encode_only_s"] = round(encode_s, 2)
        figures["ratio_protocol_over_encode"] = round(first["wall_s"] / encode_s, 3)
        figures["texts_per_s"] = round(first["texts_encoded"] / encode_s, 1)
    figures["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)
    print(json.dumps(figures, indent=2))
    print_lines(figures)
    if args.json:
        from langmix.io import write_json

        write_json(args.json, figures)


def print_lines(figures: dict[str, Any]) -> None:
    if "ratio_protocol_over_encode" in figures:
        ratio = figures["ratio_protocol_over_encode"]
        print(f"\nprotocol / encoding alone = {ratio:.3f} (goal <= 1.10)", end="")
    print(
        f"\nencoder saw {figures['runs'][0]['texts_encoded']} texts vs {figures['texts_per_setting_design']} "
        f"for per-setting re-encoding ({figures['encoder_work_ratio']}x less); "
        f"peak RSS {figures['peak_rss_gb']} GB (goal <= 4)"
    )
    for run in figures["runs"]:
        print(f"{run['requested']:>5} → {run['precision']}: {run['wall_s']:.1f} s")
    for c in figures["comparisons"]:
        verdict = "within" if c["within_tolerance"] else "OUTSIDE"
        print(
            f"{c['precision']}: {c['speedup']}x faster; max |mAP diff| {c['max_abs_map_diff']:.4f} "
            f"(goal <= {MAP_TOLERANCE}), rank distance {100 * c['rank_distance_rel_diff']:+.2f}% "
            f"(goal within {100 * RANK_DISTANCE_TOLERANCE:.0f}%): {verdict} tolerance"
        )


if __name__ == "__main__":
    main()
