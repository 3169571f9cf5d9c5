"""Training-speed benchmark of hybrid batching (issue 3).

Three figures, written to ``--out`` (JSON) and printed:

1. **step time**: langmix's hybrid batch plan vs sentence-transformers' stock multi-dataset training
   (one dataset per language, ``NO_DUPLICATES`` batches, ``PROPORTIONAL`` dataset sampler) — same
   model, same training rows, same batch size and sequence length, in one process, arms alternated in
   blocks so a shared machine's load drifts into both. Time per step = wall time between consecutive
   optimizer steps (data loading + collation + forward/backward + optimizer), median after warm-up.
   Goal: hybrid / stock <= 1.02.
2. **sampler cost**: generating 10,000 batch plans (row codes) and 10,000 batches through the
   DataLoader (rows materialised, no tokenisation), per 10,000 batches.
3. **peak memory**: peak RSS of a child process that trains steps with a batch of 100 and the cached
   (GradCache) loss on the model. Goal: <= 8 GB.

    python benchmarks/train_speed.py                       # embedded model, MLQA-R
    python benchmarks/train_speed.py --model PATH --steps 6 --skip-memory
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _data_root(arg: str | None) -> Path:
    root = arg or os.environ.get("LANGMIX_DATA_DIR") or REPO.parent / "shared" / "data"
    return Path(root)


def _timed(trainer_cls, timer: _StepTimer):
    """``trainer_cls`` recording the padded tokens of each training step (data-dependent compute)."""

    class Timed(trainer_cls):
        def training_step(self, model, inputs, num_items_in_batch=None):
            timer.tokens.append(sum(v.numel() for k, v in inputs.items() if k.endswith("input_ids")))
            return super().training_step(model, inputs, num_items_in_batch)

    return Timed


class _StepTimer:
    def __init__(self):
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                timer.last = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                now = time.perf_counter()
                timer.intervals.append(now - timer.last)
                timer.last = now

        self.callback = Callback()
        self.intervals: list[float] = []
        self.tokens: list[int] = []
        self.last = 0.0


def _common_args(tmp: Path, a: argparse.Namespace, steps: int, prompts: dict, **extra):
    from sentence_transformers import SentenceTransformerTrainingArguments

    return SentenceTransformerTrainingArguments(
        output_dir=str(tmp),
        per_device_train_batch_size=a.batch_size,
        learning_rate=3e-5,
        weight_decay=0.01,
        max_steps=steps,
        warmup_steps=0,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=10_000,
        report_to="none",
        disable_tqdm=True,
        dataloader_drop_last=True,
        prompts=prompts,
        seed=a.seed,
        **extra,
    )


def _load(a: argparse.Namespace):
    from langmix.training.config import TrainConfig
    from langmix.training.setup import freeze_word_embeddings, load_training_model

    model = load_training_model(TrainConfig(model=a.model))
    model.max_seq_length = a.max_seq_length
    if a.freeze_embeddings:
        freeze_word_embeddings(model)
    return model


def run_hybrid(a, train_set, steps: int, tmp: Path, build_only: bool = False):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from langmix.batching.samplers import BatchPlan
    from langmix.training.config import TrainConfig
    from langmix.training.setup import resolve_prompts
    from langmix.training.trainer import HybridTrainer

    model = _load(a)
    prompts = resolve_prompts(TrainConfig(), model, 0)
    plan = BatchPlan([train_set], strategy="hybrid", alpha=0.5, batch_size=a.batch_size, seed=a.seed)
    timer = _StepTimer()
    trainer = _timed(HybridTrainer, timer)(
        model=model,
        args=_common_args(tmp, a, steps, prompts),
        loss=MultipleNegativesRankingLoss(model),
        plan=plan,
        callbacks=[timer.callback],
    )
    if build_only:
        return trainer
    trainer.train()
    return timer


def run_stock(a, train_set, steps: int, tmp: Path, build_only: bool = False):
    from datasets import Dataset, DatasetDict
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from langmix.training.config import TrainConfig
    from langmix.training.setup import resolve_prompts

    model = _load(a)
    prompts = resolve_prompts(TrainConfig(), model, 0)
    per_lang: dict[str, dict[str, list[str]]] = {}
    for item in train_set.items:
        for lang, t in item.texts.items():
            cols = per_lang.setdefault(lang, {"anchor": [], "positive": []})
            cols["anchor"].append(t.query)
            cols["positive"].append(t.positive)
    data = DatasetDict({lang: Dataset.from_dict(cols) for lang, cols in sorted(per_lang.items())})
    timer = _StepTimer()
    trainer = _timed(SentenceTransformerTrainer, timer)(
        model=model,
        args=_common_args(
            tmp, a, steps, prompts, batch_sampler="no_duplicates", multi_dataset_batch_sampler="proportional"
        ),
        train_dataset=data,
        loss=MultipleNegativesRankingLoss(model),
        callbacks=[timer.callback],
    )
    if build_only:
        return trainer
    trainer.train()
    return timer


def sampler_cost(train_set, batch_size: int, n: int = 10_000) -> dict[str, float]:
    from torch.utils.data import DataLoader

    from langmix.batching.samplers import BatchPlan, ParallelBatchSampler, ParallelRows

    plan = BatchPlan([train_set], strategy="hybrid", alpha=0.5, batch_size=batch_size, seed=0)
    t0 = time.perf_counter()
    done, epoch = 0, 0
    while done < n:
        for _ in plan.epoch_codes(epoch):
            done += 1
            if done == n:
                break
        epoch += 1
    plan_s = time.perf_counter() - t0
    sampler = ParallelBatchSampler(plan)
    loader = DataLoader(ParallelRows(plan), batch_sampler=sampler, collate_fn=list)
    t0 = time.perf_counter()
    done, epoch = 0, 0
    while done < n:
        sampler.set_epoch(epoch)
        for _ in loader:
            done += 1
            if done == n:
                break
        epoch += 1
    loader_s = time.perf_counter() - t0
    return {"batches": n, "batch_size": batch_size, "plan_s": plan_s, "plan_and_rows_s": loader_s}


def pipeline_cost(a, train_set, n: int = 200) -> dict[str, float]:
    """Seconds per batch to sample, materialise and tokenise (the trainer's own train dataloader)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arm, runner in (("hybrid", run_hybrid), ("stock", run_stock)):
            trainer = runner(a, train_set, 10, Path(tmp) / arm, build_only=True)
            loader = trainer.get_train_dataloader()
            t0 = time.perf_counter()
            for i, _ in enumerate(loader):
                if i + 1 == n:
                    break
            out[f"{arm}_s_per_batch"] = (time.perf_counter() - t0) / n
    return out


def memory_child(a: argparse.Namespace) -> None:
    """Train ``a.memory_steps`` steps with batch 100 and the cached loss; print peak RSS as JSON."""
    from langmix.training import TrainConfig, train

    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            data=["mlqa-r"],
            data_root=str(_data_root(a.data_dir)),
            model=a.model,
            max_seq_length=a.memory_seq_length,
            batch_size=100,
            loss="cached",
            mini_batch_size=a.mini_batch_size,
            max_steps=a.memory_steps,
            val_fraction=0.0,
            logging_steps=1,
            freeze_embeddings=False,
            warmup=0,
            output_dir=str(Path(tmp) / "run"),
            eval_steps=10_000,
        )
        t0 = time.perf_counter()
        result = train(config)
        seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "peak_rss_gb": peak_kb / 1024**2,
                "steps": result.global_step,
                "batch_size": 100,
                "loss": "cached",
                "mini_batch_size": a.mini_batch_size,
                "max_seq_length": a.memory_seq_length,
                "seconds": seconds,
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="embedded")
    p.add_argument("--data-dir", default=None, help="folder holding lareqa/ (default $LANGMIX_DATA_DIR)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-seq-length", type=int, default=64)
    p.add_argument("--freeze-embeddings", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--steps", type=int, default=8, help="measured steps per block and arm")
    p.add_argument("--warmup-steps", type=int, default=2, help="steps per block left out of the timing")
    p.add_argument("--blocks", type=int, default=2, help="alternating blocks per arm")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--memory-steps", type=int, default=2)
    p.add_argument("--memory-seq-length", type=int, default=128)
    p.add_argument("--mini-batch-size", type=int, default=16)
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default="runs/bench/train_speed.json")
    a = p.parse_args()
    if a.memory_child:
        if a.threads:
            import torch

            torch.set_num_threads(a.threads)
        memory_child(a)
        return

    import torch

    from langmix.data.parallel import load_squad_parallel
    from langmix.io import library_versions, write_json

    if a.threads:
        torch.set_num_threads(a.threads)

    train_set = load_squad_parallel(_data_root(a.data_dir) / "lareqa" / "mlqa-r")
    result: dict = {
        "model": a.model,
        "data": "mlqa-r (all 1148 ids)",
        "batch_size": a.batch_size,
        "max_seq_length": a.max_seq_length,
        "freeze_embeddings": a.freeze_embeddings,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_start": os.getloadavg(),
        "versions": library_versions(),
    }
    result["sampler_cost_per_10k"] = sampler_cost(train_set, a.batch_size)
    print(f"sampler: {result['sampler_cost_per_10k']}", flush=True)
    result["data_pipeline"] = pipeline_cost(a, train_set)
    print(f"data pipeline: {result['data_pipeline']}", flush=True)

    times: dict[str, list[float]] = {"hybrid": [], "stock": []}
    tokens: dict[str, list[int]] = {"hybrid": [], "stock": []}
    steps = a.steps + a.warmup_steps
    w = a.warmup_steps
    with tempfile.TemporaryDirectory() as tmp:
        for block in range(a.blocks):
            order = ("hybrid", "stock") if block % 2 == 0 else ("stock", "hybrid")
            for arm in order:
                runner = run_hybrid if arm == "hybrid" else run_stock
                timer = runner(a, train_set, steps, Path(tmp) / f"{arm}{block}")
                times[arm].extend(timer.intervals[w:])
                tokens[arm].extend(timer.tokens[w : len(timer.intervals)])
                median = statistics.median(timer.intervals[w:])
                print(f"block {block} {arm}: median {median:.3f}s", flush=True)
    med = {arm: statistics.median(v) for arm, v in times.items()}
    mean = {arm: statistics.fmean(v) for arm, v in times.items()}
    per_ktok = {arm: 1000 * sum(times[arm]) / sum(tokens[arm]) for arm in times}
    result["step_time_s"] = {
        "hybrid_median": med["hybrid"],
        "stock_median": med["stock"],
        "hybrid_mean": mean["hybrid"],
        "stock_mean": mean["stock"],
        "ratio_median": med["hybrid"] / med["stock"],
        "ratio_mean": mean["hybrid"] / mean["stock"],
        "padded_tokens_per_step": {arm: statistics.fmean(v) for arm, v in tokens.items()},
        "seconds_per_1k_padded_tokens": per_ktok,
        "ratio_per_token": per_ktok["hybrid"] / per_ktok["stock"],
        "measured_steps_per_arm": len(times["hybrid"]),
        "all": times,
        "tokens": tokens,
    }
    ratio = med["hybrid"] / med["stock"]
    print(
        f"step time: hybrid {med['hybrid']:.3f}s, stock {med['stock']:.3f}s, ratio {ratio:.3f}; per token "
        f"{per_ktok['hybrid'] / per_ktok['stock']:.3f}"
    )

    if not a.skip_memory:
        cmd = [sys.executable, __file__, "--memory-child", "--model", a.model]
        if a.threads:
            cmd += ["--threads", str(a.threads)]
        cmd += ["--memory-steps", str(a.memory_steps), "--memory-seq-length", str(a.memory_seq_length)]
        cmd += ["--mini-batch-size", str(a.mini_batch_size)]
        if a.data_dir:
            cmd += ["--data-dir", a.data_dir]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit("memory child failed")
        result["memory"] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"memory: {result['memory']}")
    result["load_average_end"] = os.getloadavg()
    write_json(a.out, result)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
