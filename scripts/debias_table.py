"""The training-free baseline on full XQuAD-R and MLQA-R: the model before and after removing its language
subspace, for several estimation sources and numbers of directions (issue "Language bias…", docs/results.md).

    python scripts/debias_table.py --model embedded --out runs/debias-table

Each set is encoded once (through langmix's encoder and embedding cache); every variant applies its
projection to those vectors — exactly what the model saved by ``langmix debias`` computes (to float
tolerance; tests/models/test_debias.py) — and scores them with the LAReQA evaluation. Writes
``<out>/table.json`` and prints the markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from langmix.data.benchmarks import MLQA_R_LANGUAGES, XQUAD_R_LANGUAGES
from langmix.data.lareqa import load_lareqa
from langmix.evaluation.api import center_lareqa, encode_lareqa
from langmix.evaluation.lareqa import evaluate_embeddings
from langmix.io import write_json
from langmix.models.cache import model_fingerprint
from langmix.models.debias import estimate_subspace, parse_source
from langmix.models.encoder import Encoder
from langmix.models.loading import load_model

# (label, source, languages, k): None languages = XQuAD-R's 11; None k = languages - 1
VARIANTS = (
    ("Tatoeba, 11 languages, k 10 (the default)", "tatoeba", None, None),
    ("Tatoeba, k 1", "tatoeba", None, 1),
    ("Tatoeba, k 3", "tatoeba", None, 3),
    ("Tatoeba, k 6", "tatoeba", None, 6),
    ("training set (MLQA-R passages, its 7 languages), k 6", "training:mlqa-r", MLQA_R_LANGUAGES, None),
    ("evaluation pool of the set itself, k languages − 1 (not fair)", "pool", None, None),
)

ORACLE = "oracle: each language's mean subtracted (needs every text's language)"


def row(result, label: str) -> dict:
    summary, bias = result.summary(), result.bias()
    return {
        "system": label,
        "mo_map": summary["mo"]["map"]["mean"],
        "cr_map": summary["cr"]["map"]["mean"],
        "mul_map": summary["mul"]["map"]["mean"],
        "mul_r@10": summary["mul"]["r@10"]["mean"],
        "rank_distance": summary["mul"]["rank_distance"]["mean"],
        "own@10": bias["own@10"]["mean"],
        "complete@10": bias["complete@10"]["mean"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--sets", default="xquad-r,mlqa-r")
    parser.add_argument("--per-language", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--max-questions", type=int, default=None, help="default: all questions")
    parser.add_argument("--out", type=Path, default=Path("runs/debias-table"))
    args = parser.parse_args()

    model = load_model(args.model)
    encoder = Encoder(
        model, use_cache=True, fingerprint=model_fingerprint(model), precision=args.precision, batch_size=64
    )
    rows: dict[str, list[dict]] = {}
    start = time.perf_counter()
    for name in args.sets.split(","):
        data = load_lareqa(name, max_questions=args.max_questions)
        q_emb, c_emb, _ = encode_lareqa(encoder, data)
        rows[name] = [row(evaluate_embeddings(data, q_emb, c_emb), "untrained")]
        for label, spec, languages, k in VARIANTS:
            source = parse_source(f"lareqa:{name}" if spec == "pool" else spec)
            langs = list(data.languages if spec == "pool" else languages or XQUAD_R_LANGUAGES)
            texts = source.texts(langs)
            sub = estimate_subspace(encoder, texts, k=k, per_language=args.per_language, seed=args.seed)
            scored = evaluate_embeddings(data, sub.apply(q_emb), sub.apply(c_emb))
            rows[name].append(row(scored, f"debiased: {label}"))
            print(f"{name}: {label}: done ({time.perf_counter() - start:.0f} s)", flush=True)
        oracle = evaluate_embeddings(data, *center_lareqa(data, q_emb, c_emb, "language"))
        rows[name].append(row(oracle, ORACLE))
    doc = {
        "model": args.model,
        "fingerprint": model_fingerprint(model),
        "precision": encoder.precision,
        "per_language": args.per_language,
        "seed": args.seed,
        "max_questions": args.max_questions,
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
    }
    write_json(args.out / "table.json", doc)
    cols = ("mo_map", "cr_map", "mul_map", "mul_r@10", "rank_distance", "own@10", "complete@10")
    for name, table in rows.items():
        print(f"\n{name} ({encoder.precision})\n")
        print("| system | Mo. mAP | Cr. mAP | Mul. mAP | Mul. R@10 | rank distance | own@10 | C@10 |")
        print("|---|---|---|---|---|---|---|---|")
        for r in table:
            cells = [f"{r[c]:.1f}" if c == "rank_distance" else f"{r[c]:.3f}" for c in cols]
            print(f"| {r['system']} | " + " | ".join(cells) + " |")
    assert all(np.isfinite(r["mul_map"]) for t in rows.values() for r in t)


if __name__ == "__main__":
    main()
