"""Training-speed benchmark: hybrid batching (issue 3), and langmix train against a bare loop (issue 11).

Figures, written to ``--out`` (JSON) and printed; ``--parts`` picks them (default: all):

``stock``: **step time** of langmix's hybrid batch plan vs sentence-transformers' stock multi-dataset training
   (one dataset per language, ``NO_DUPLICATES`` batches, ``PROPORTIONAL`` dataset sampler) — same model, same
   training rows, same batch size and sequence length, in one process, arms alternated in blocks so a shared
   machine's load drifts into both. Time per step = wall time between consecutive optimizer steps (data
   loading + collation + forward/backward + optimizer), median after warm-up. Goal: hybrid / stock <= 1.02.
   Also the **sampler cost** (10,000 batch plans, and 10,000 batches through the DataLoader) and the data
   pipeline per batch (sample + rows + tokenise).
``memory``: **peak RSS** of a child process that trains steps with a batch of 100 and the cached (GradCache)
   loss on the model. Goal: <= 8 GB.
``overhead``: **langmix train vs a bare PyTorch InfoNCE loop** on identical batches (the run's own batch plan,
   same model, max length, batch size, frozen word embeddings), at each ``--precisions`` (fp32, bf16: the
   trainer's autocast vs ``torch.autocast`` in the loop), arms alternated in blocks; langmix runs through
   ``langmix.training.train``. Goal: langmix / bare <= 1.15. The bare loop times its phases (tokenise,
   forward + loss, backward, optimizer); ``--profile`` adds one cProfile'd langmix run per precision and
   splits its step the same way, plus what the trainer adds (gradient clipping, logging, callbacks, ...).
``curves``: **validation loss, fp32 vs bf16**, over ``--curve-steps`` steps validated every
   ``--curve-eval-steps`` (a langmix train run per precision, validation and checkpoints included, so its
   seconds per step are a whole run's), and ``--noise-seeds`` extra fp32 runs that change only the dropout
   seed (dropout; same batches, same held-out ids): the fp32-bf16 gap is read against that seed noise.

    python benchmarks/train_speed.py                       # everything, full size (long: hours on 2 cores)
    python benchmarks/train_speed.py --model PATH --steps 6 --skip-memory
    # issue 11, full: 200-step curves, validation every 50, 2 seed-noise runs, profile
    python benchmarks/train_speed.py --parts overhead,curves --threads 1 --steps 20 --warmup-steps 2 \
        --blocks 2 --profile --curve-steps 200 --curve-eval-steps 50 --noise-seeds 1,2
    # quick (minutes):
    python benchmarks/train_speed.py --parts overhead,curves --threads 1 --steps 8 --warmup-steps 2 \
        --blocks 1 --profile --curve-steps 20 --curve-eval-steps 10
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("stock", "memory", "overhead", "curves")


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


# ---------------------------------------------------------------- langmix train vs a bare loop (issue 11)
def _run_config(a: argparse.Namespace, out: Path, **changes):
    """The ``TrainConfig`` of an overhead / curve run (the run the bare loop copies)."""
    from langmix.training.config import TrainConfig

    base = dict(
        data=["mlqa-r"],
        data_root=str(_data_root(a.data_dir)),
        model=a.model,
        max_seq_length=a.max_seq_length,
        batch_size=a.batch_size,
        freeze_embeddings=a.freeze_embeddings,
        val_fraction=0.0,
        eval_steps=10_000,
        seed=a.seed,
        threads=a.threads,
        output_dir=str(out),
    )
    return TrainConfig(**{**base, **changes})


def plan_batches(config, n: int) -> list[tuple[list[str], list[str]]]:
    """The first ``n`` batches ``langmix train`` trains on with ``config`` (epoch 0 of its plan), as texts."""
    from langmix.batching.samplers import ParallelRows
    from langmix.training.plans import build_plans
    from langmix.training.setup import load_training_data

    plan, _ = build_plans(config, *load_training_data(config), world_size=1)
    if n > len(plan):
        raise SystemExit(f"{n} steps need more than one epoch ({len(plan)} batches)")
    rows = ParallelRows(plan)
    batches = []
    for codes in islice(plan.epoch_codes(0), n):
        picked = [rows[c] for c in codes]
        batches.append(([r["anchor"] for r in picked], [r["positive"] for r in picked]))
    return batches


def _now(device) -> float:
    """Wall time once the device is done (on CPU every op has finished when it returns)."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
    return time.perf_counter()


def bare_loop(a: argparse.Namespace, config, precision: str, steps: int) -> dict[str, list[float]]:
    """A bare InfoNCE loop over the batches langmix trains on: tokenise (the collator's ``model.preprocess``),
    forward, loss, backward, AdamW step. No gradient clipping, schedule, logging or checkpoints; bf16 is
    ``torch.autocast``, which is what the trainer's mixed precision amounts to. Seconds per phase per step."""
    import torch
    import torch.nn.functional as F
    from transformers import set_seed

    from langmix.training.setup import resolve_prompts

    set_seed(config.seed)
    model = _load(a)
    prompts = resolve_prompts(config, model, 0)
    batches = plan_batches(config, steps)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    device = model.device
    labels = torch.arange(config.batch_size, device=device)
    phases: dict[str, list[float]] = {k: [] for k in ("tokenise", "forward_loss", "backward", "optimizer")}
    model.train()
    for queries, passages in batches:
        t0 = _now(device)
        features = [
            {k: v.to(device) if hasattr(v, "to") else v for k, v in model.preprocess(texts, prompt=p).items()}
            for texts, p in ((queries, prompts.get("anchor")), (passages, prompts.get("positive")))
        ]
        t1 = _now(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            q, d = (model(f)["sentence_embedding"] for f in features)
            scores = config.scale * F.normalize(q, dim=-1) @ F.normalize(d, dim=-1).T
            loss = F.cross_entropy(scores.float(), labels)
        t2 = _now(device)
        loss.backward()
        t3 = _now(device)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t4 = _now(device)
        for phase, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            phases[phase].append(seconds)
    phases["step"] = [sum(parts) for parts in zip(*phases.values(), strict=True)]
    return phases


def _dropout_seed(seed: int):
    """A callback that re-seeds torch when training begins: after the trainer seeded everything from the
    run's seed and built its data, so only what draws from torch afterwards (dropout) changes — the batch
    plan and the held-out ids are pure functions of the run's seed and stay."""
    from transformers import TrainerCallback

    class DropoutSeed(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            import torch

            torch.manual_seed(seed)

    return DropoutSeed()


def langmix_run(
    config, profile: bool = False, dropout_seed: int | None = None
) -> tuple[list[float], list[dict], pstats.Stats | None]:
    """``langmix.training.train(config)``: step intervals, the log history, and a cProfile if asked;
    ``dropout_seed`` re-seeds torch at the first step (the noise runs of the curves)."""
    from langmix.training import train

    timer = _StepTimer()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    try:
        extra = [] if dropout_seed is None else [_dropout_seed(dropout_seed)]
        result = train(config, callbacks=[timer.callback, *extra])
    finally:
        if profiler:
            profiler.disable()
        shutil.rmtree(config.output_dir, ignore_errors=True)  # checkpoints: ~0.6 GB each
    return timer.intervals, result.log_history, pstats.Stats(profiler) if profiler else None


# Where a langmix step's time goes: (label, file suffix, function) whose cumulative time is that part.
STEP_PARTS = (
    ("data: sample, rows, collate + tokenise", "transformers/trainer.py", "get_batch_samples"),
    ("forward + loss (+ per-kind bookkeeping)", "langmix/training/trainer.py", "compute_loss"),
    ("backward", "accelerate/accelerator.py", "backward"),
    ("gradient clipping", "transformers/trainer.py", "_clip_grad_norm"),
    ("optimizer step", "accelerate/optimizer.py", "step"),
    ("lr schedule", "torch/optim/lr_scheduler.py", "step"),
    ("zero_grad", "torch/nn/modules/module.py", "zero_grad"),
    ("flops count", "transformers/trainer.py", "floating_point_ops"),
    ("log (per-kind losses, log_history.json)", "langmix/training/trainer.py", "log"),
    ("callbacks (step begin/end)", "transformers/trainer_callback.py", "on_step_end"),
    ("callbacks (step begin/end)", "transformers/trainer_callback.py", "on_step_begin"),
)
# Paid per validation / checkpoint / run, not per step.
RUN_PARTS = (
    ("validation", "transformers/trainer.py", "evaluate"),
    ("checkpoint saves", "transformers/trainer.py", "_save_checkpoint"),
)
EPOCH = ("transformers/trainer.py", "_run_epoch")
LOOP = ("transformers/trainer.py", "_inner_training_loop")


def _cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    """Cumulative seconds of ``name`` in a file ending in ``suffix``; the largest where several match (the
    callback handler's ``on_step_end`` includes the callbacks' own)."""
    times = [v[3] for (file, _, func), v in stats.stats.items() if func == name and file.endswith(suffix)]
    return max(times, default=0.0)


def _parts(stats: pstats.Stats, parts: tuple[tuple[str, str, str], ...], divide: int = 1) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, suffix, name in parts:
        out[label] = out.get(label, 0.0) + _cumulative(stats, suffix, name) / divide
    return out


def step_breakdown(stats: pstats.Stats, steps: int) -> dict[str, dict[str, float]]:
    """Where langmix's training loop spends its time (cProfile cumulative times): seconds per step of each
    part of a step, ``other`` being the epoch loop's own time; and seconds per run of validations,
    checkpoint saves and the loop's setup / teardown (optimizer, accelerate, loading the best model)."""
    per_run = _parts(stats, RUN_PARTS)
    epochs = _cumulative(stats, *EPOCH)
    per_step = _parts(stats, STEP_PARTS, steps)
    per_step["other (the epoch loop itself)"] = (epochs - sum(per_run.values())) / steps - sum(
        per_step.values()
    )
    per_step["step total"] = (epochs - sum(per_run.values())) / steps
    per_run["setup + teardown"] = _cumulative(stats, *LOOP) - epochs
    return {"per_step_s": per_step, "per_run_s": per_run}


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "mean": statistics.fmean(values), "n": len(values)}


def overhead_part(a: argparse.Namespace, tmp: Path) -> dict:
    """Step time of langmix train vs the bare loop per precision, blocks alternated; the bare phases; the
    cProfile breakdown of a langmix run if ``--profile``."""
    steps, w = a.steps + a.warmup_steps, a.warmup_steps
    times = {p: {"bare": [], "langmix": []} for p in a.precisions}
    phases: dict[str, dict[str, list[float]]] = {p: {} for p in a.precisions}
    for block in range(a.blocks):
        for precision in a.precisions:
            order = ("bare", "langmix") if block % 2 == 0 else ("langmix", "bare")
            for arm in order:
                config = _run_config(
                    a, tmp / f"{arm}-{precision}-{block}", precision=precision, max_steps=steps
                )
                if arm == "bare":
                    measured = bare_loop(a, config, precision, steps)
                    for phase, values in measured.items():
                        phases[precision].setdefault(phase, []).extend(values[w:])
                    intervals = measured["step"]
                else:
                    intervals = langmix_run(config)[0]
                times[precision][arm].extend(intervals[w:])
                print(
                    f"block {block} {precision} {arm}: median {statistics.median(intervals[w:]):.3f}s",
                    flush=True,
                )
    out: dict = {"steps_per_block": a.steps, "warmup_steps": w, "blocks": a.blocks, "per_precision": {}}
    for precision in a.precisions:
        bare, lm = _summary(times[precision]["bare"]), _summary(times[precision]["langmix"])
        out["per_precision"][precision] = {
            "bare_s": bare,
            "langmix_s": lm,
            "ratio_median": lm["median"] / bare["median"],
            "ratio_mean": lm["mean"] / bare["mean"],
            "bare_phases_median_s": {k: statistics.median(v) for k, v in phases[precision].items()},
            "all": times[precision],
        }
        print(
            f"{precision}: langmix {lm['median']:.3f}s / bare {bare['median']:.3f}s per step (median) = "
            f"{lm['median'] / bare['median']:.3f}; mean {lm['mean'] / bare['mean']:.3f}",
            flush=True,
        )
    if "fp32" in a.precisions and "bf16" in a.precisions:
        per = out["per_precision"]
        out["bf16_over_fp32"] = {
            arm: per["bf16"][f"{arm}_s"]["median"] / per["fp32"][f"{arm}_s"]["median"]
            for arm in ("bare", "langmix")
        }
        print(f"bf16 / fp32 step time: {out['bf16_over_fp32']}", flush=True)
    if a.profile:
        out["profile"] = {}
        for precision in a.precisions:
            config = _run_config(a, tmp / f"profile-{precision}", precision=precision, max_steps=steps)
            stats = langmix_run(config, profile=True)[2]
            breakdown = step_breakdown(stats, steps)
            out["profile"][precision] = breakdown
            print(f"profile {precision} ({steps} steps, cProfile on): s per step | s per run", flush=True)
            for label, seconds in [*breakdown["per_step_s"].items(), *breakdown["per_run_s"].items()]:
                where = "" if label in breakdown["per_step_s"] else " " * 10
                print(f"  {label:<45} {where}{seconds:8.4f}", flush=True)
    return out


def _eval_curve(history: list[dict]) -> dict[int, float]:
    return {int(e["step"]): float(e["eval_loss"]) for e in history if "eval_loss" in e}


def _max_gap(x: dict[int, float], y: dict[int, float]) -> float:
    return max((abs(x[s] - y[s]) for s in x.keys() & y.keys()), default=float("nan"))


def curves_part(a: argparse.Namespace, tmp: Path, bare: dict[str, float]) -> dict:
    """Validation-loss curves per precision over ``--curve-steps``, and fp32 runs that change only the
    dropout seed (torch re-seeded as training begins; the plan and held-out ids follow ``seed``). With the
    bare loop's median step (``bare``, per precision), each whole run's seconds per step over it."""
    runs = [(p, a.seed) for p in a.precisions] + [("fp32", s) for s in a.noise_seeds]
    out: dict = {"steps": a.curve_steps, "eval_steps": a.curve_eval_steps, "runs": []}
    for precision, trainer_seed in runs:
        config = _run_config(
            a,
            tmp / f"curve-{precision}-{trainer_seed}",
            precision=precision,
            max_steps=a.curve_steps,
            val_fraction=a.curve_val_fraction,
            eval_steps=a.curve_eval_steps,
        )
        noise = None if trainer_seed == a.seed else trainer_seed
        intervals, history, _ = langmix_run(config, dropout_seed=noise)
        runtime = next(e["train_runtime"] for e in history if "train_runtime" in e)
        run = {
            "precision": precision,
            "trainer_seed": trainer_seed,
            "eval_loss": _eval_curve(history),
            "train_runtime_s": runtime,
            "s_per_step_whole_run": runtime / a.curve_steps,  # validation and checkpoints included
            "step_median_s": statistics.median(intervals),
            "validation_s": [e["eval_runtime"] for e in history if "eval_runtime" in e],
        }
        if precision in bare:
            run["whole_run_over_bare_step"] = run["s_per_step_whole_run"] / bare[precision]
        out["runs"].append(run)
        print(
            f"curve {precision} seed {trainer_seed}: {run['s_per_step_whole_run']:.3f}s per step "
            f"(whole run; / bare step {run.get('whole_run_over_bare_step', float('nan')):.3f}), validations "
            f"{run['validation_s']}s, eval_loss {run['eval_loss']}",
            flush=True,
        )
    curves = {(r["precision"], r["trainer_seed"]): r["eval_loss"] for r in out["runs"]}
    if ("fp32", a.seed) in curves and ("bf16", a.seed) in curves:
        out["max_gap_fp32_bf16"] = _max_gap(curves["fp32", a.seed], curves["bf16", a.seed])
        print(f"max |eval_loss fp32 - bf16|: {out['max_gap_fp32_bf16']:.4f}", flush=True)
    if a.noise_seeds and ("fp32", a.seed) in curves:
        out["max_gap_fp32_seeds"] = max(
            _max_gap(curves["fp32", a.seed], curves["fp32", s]) for s in a.noise_seeds
        )
        print(f"max |eval_loss fp32 - fp32 other trainer seed|: {out['max_gap_fp32_seeds']:.4f}")
    return out


# ---------------------------------------------------------------- hybrid vs stock (issue 3)
def stock_part(a: argparse.Namespace, train_set) -> dict:
    """Sampler cost, data pipeline and step time of the hybrid plan vs sentence-transformers' stock."""
    result: dict = {"sampler_cost_per_10k": sampler_cost(train_set, a.batch_size)}
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
    return result


def memory_part(a: argparse.Namespace) -> dict:
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
    memory = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"memory: {memory}")
    return memory


def _csv(kind):
    return lambda text: [kind(v) for v in text.split(",") if v.strip()]


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--parts", type=_csv(str), default=list(PARTS), help=f"comma-separated: {', '.join(PARTS)}"
    )
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
    p.add_argument("--precisions", type=_csv(str), default=["fp32", "bf16"], help="overhead and curves")
    p.add_argument("--profile", action="store_true", help="overhead: also one cProfile'd langmix run each")
    p.add_argument("--curve-steps", type=int, default=200)
    p.add_argument("--curve-eval-steps", type=int, default=50)
    p.add_argument("--curve-val-fraction", type=float, default=0.05)
    p.add_argument(
        "--noise-seeds", type=_csv(int), default=[], help="curves: fp32 runs with these trainer seeds"
    )
    p.add_argument("--skip-memory", action="store_true", help="same as leaving memory out of --parts")
    p.add_argument("--memory-steps", type=int, default=2)
    p.add_argument("--memory-seq-length", type=int, default=128)
    p.add_argument("--mini-batch-size", type=int, default=16)
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default="runs/bench/train_speed.json")
    a = p.parse_args()
    unknown = set(a.parts) - set(PARTS)
    if unknown:
        p.error(f"unknown --parts {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    if a.skip_memory and "memory" in a.parts:
        a.parts.remove("memory")
    return a


def main() -> None:
    a = _arguments()
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    if a.memory_child:
        memory_child(a)
        return

    import torch

    from langmix.data.parallel import load_squad_parallel
    from langmix.io import library_versions, write_json
    from langmix.models.precision import device_description

    result: dict = {
        "parts": a.parts,
        "model": a.model,
        "data": "mlqa-r (all 1148 ids)",
        "batch_size": a.batch_size,
        "max_seq_length": a.max_seq_length,
        "freeze_embeddings": a.freeze_embeddings,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "hardware": device_description(),
        "load_average_start": os.getloadavg(),
        "versions": library_versions(),
    }
    if "stock" in a.parts:
        result.update(stock_part(a, load_squad_parallel(_data_root(a.data_dir) / "lareqa" / "mlqa-r")))
    with tempfile.TemporaryDirectory() as tmp:
        if "overhead" in a.parts:
            result["overhead"] = overhead_part(a, Path(tmp))
        if "curves" in a.parts:
            per = result.get("overhead", {}).get("per_precision", {})
            bare = {p: v["bare_s"]["median"] for p, v in per.items()}
            result["curves"] = curves_part(a, Path(tmp), bare)
    if "memory" in a.parts:
        result["memory"] = memory_part(a)
    result["load_average_end"] = os.getloadavg()
    write_json(a.out, result)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
