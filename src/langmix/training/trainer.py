"""sentence-transformers' trainer with langmix's batch plan in place of its samplers.

Everything else (optimiser, schedule, mixed precision, checkpoints, resume, DDP, logging) is the
stock ``SentenceTransformerTrainer`` / HF ``Trainer``. What changes:

* the train and validation data loaders draw batches from a :class:`~langmix.batching.samplers.BatchPlan`
  (its own seed; sentence-transformers seeds its samplers with 0) and the sampler's epoch is set
  explicitly at every epoch, also after a resume (accelerate's shard wrapper does not forward it);
* the loss is logged per batch kind (``loss_mono`` / ``loss_cross``, ``eval_loss_mono`` / ...);
* optionally every trained batch is appended to ``batches.rank<r>.jsonl`` (ids and languages).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformerTrainer
from sentence_transformers.base.evaluation import BaseEvaluator
from torch.utils.data import DataLoader

from langmix.batching.samplers import CROSS, MONO, BatchPlan, ParallelBatchSampler, ParallelRows
from langmix.training.collator import BATCH_KEY, ParallelCollator

KINDS = (MONO, CROSS)


class HybridTrainer(SentenceTransformerTrainer):
    def __init__(
        self,
        *args: Any,
        plan: BatchPlan,
        eval_plan: BatchPlan | None = None,
        batch_log_dir: str | Path | None = None,
        **kwargs: Any,
    ):
        self.plan = plan
        self.eval_plan = eval_plan
        self.batch_log_dir = Path(batch_log_dir) if batch_log_dir else None
        self._train_sampler: ParallelBatchSampler | None = None
        self._kind_sums = {mode: torch.zeros(len(KINDS), dtype=torch.float64) for mode in ("train", "eval")}
        self._kind_counts = {mode: torch.zeros(len(KINDS), dtype=torch.float64) for mode in ("train", "eval")}
        self._micro = 0
        super().__init__(
            *args,
            train_dataset=ParallelRows(plan),
            eval_dataset=ParallelRows(eval_plan) if eval_plan is not None else None,
            **kwargs,
        )

    # ---------------------------------------------------------------- data
    def get_data_collator(self, model, args, processing_class=None) -> ParallelCollator:
        return ParallelCollator(
            preprocess_fn=model.preprocess,
            router_mapping=args.router_mapping,
            prompts=args.prompts,
            max_length=getattr(args, "max_length", None),
        )

    def add_model_card_callback(self, default_args_dict: dict[str, Any]) -> None:
        # The model-card callback inspects datasets.Dataset objects; ours are row views, so hide them.
        train, evald = self.train_dataset, self.eval_dataset
        self.train_dataset = self.eval_dataset = None
        try:
            super().add_model_card_callback(default_args_dict)
        finally:
            self.train_dataset, self.eval_dataset = train, evald

    def _loader(self, plan: BatchPlan, sampler: ParallelBatchSampler) -> DataLoader:
        workers = self.args.dataloader_num_workers
        return DataLoader(
            ParallelRows(plan),
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=workers,
            pin_memory=self.args.dataloader_pin_memory and torch.cuda.is_available(),
            persistent_workers=self.args.dataloader_persistent_workers if workers else False,
            prefetch_factor=self.args.dataloader_prefetch_factor if workers else None,
        )

    def get_train_dataloader(self) -> DataLoader:
        self._train_sampler = ParallelBatchSampler(self.plan)
        self.accelerator.even_batches = False
        self._train_dataloader = self.accelerator.prepare(self._loader(self.plan, self._train_sampler))
        return self._train_dataloader

    def get_eval_dataloader(self, eval_dataset=None) -> DataLoader:
        if self.eval_plan is None:
            return DataLoader([])
        self.accelerator.even_batches = True
        return self.accelerator.prepare(
            self._loader(self.eval_plan, ParallelBatchSampler(self.eval_plan, epoch=0))
        )

    def _run_epoch(self, *args: Any, **kwargs: Any):
        # The batch order of an epoch is a pure function of (seed, epoch): set it here so that a
        # resumed run (which skips the first batches of this epoch) replays exactly the same batches.
        epoch = kwargs.get("epoch")
        if self._train_sampler is not None and epoch is not None:
            self._train_sampler.set_epoch(epoch)
        return super()._run_epoch(*args, **kwargs)

    # ---------------------------------------------------------------- loss per batch kind
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        meta = inputs.pop(BATCH_KEY, None)
        out = super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )
        if meta is not None:
            loss = out[0] if return_outputs else out
            mode = "train" if self.model.training else "eval"
            k = KINDS.index(meta["kind"])
            self._kind_sums[mode][k] += float(loss.detach().float().cpu())
            self._kind_counts[mode][k] += 1
            if mode == "train" and self.batch_log_dir is not None:
                self._log_batch(meta)
        return out

    def _log_batch(self, meta: dict[str, Any]) -> None:
        rank = self.args.process_index
        accum = self.args.gradient_accumulation_steps
        record = {
            "step": self.state.global_step + 1,  # the optimizer step this batch contributes to
            "epoch": self._train_sampler.epoch if self._train_sampler is not None else None,
            "accum": accum,
            **{k: meta[k] for k in ("kind", "language", "dataset", "ids", "qlang", "plang")},
        }
        self.batch_log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.batch_log_dir / f"batches.rank{rank}.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if "loss" in logs else "eval" if "eval_loss" in logs else None
        if mode is not None:
            sums = self._kind_sums[mode].clone()
            counts = self._kind_counts[mode].clone()
            if self.args.world_size > 1:
                stacked = self.accelerator.reduce(
                    torch.stack([sums, counts]).to(self.args.device), "sum"
                ).cpu()
                sums, counts = stacked[0], stacked[1]
            logs = dict(logs)
            prefix = "" if mode == "train" else "eval_"
            for k, kind in enumerate(KINDS):
                if counts[k] > 0:
                    logs[f"{prefix}loss_{kind}"] = round(float(sums[k] / counts[k]), 4)
                    logs[f"{prefix}batches_{kind}"] = int(counts[k] / max(1, self.args.world_size))
            self._kind_sums[mode].zero_()
            self._kind_counts[mode].zero_()
        return super().log(logs, start_time)


class LareqaEvaluator(BaseEvaluator):
    """Periodic LAReQA evaluation during training: Mo./Cr./Mul. mAP (macro means) on a question subset."""

    def __init__(
        self,
        name: str,
        *,
        max_questions: int | None = 200,
        languages: list[str] | None = None,
        data_root: str | None = None,
        batch_size: int = 64,
    ):
        super().__init__()
        from langmix.data.lareqa import load_lareqa

        self.name = name
        self.data = load_lareqa(name, languages=languages, data_root=data_root, max_questions=max_questions)
        self.batch_size = batch_size
        self.primary_metric = "mean_map"
        self.greater_is_better = True

    def __call__(
        self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        from langmix.evaluation.api import evaluate_model

        result = evaluate_model(model, self.data, batch_size=self.batch_size, use_cache=False)
        mo, cr, mul = result.mono()["mean"], result.cross()["mean"], result.multi()["mean"]
        metrics = {"mo_map": mo, "cr_map": cr, "mul_map": mul, "mean_map": float(np.mean([mo, cr, mul]))}
        return self.prefix_name_to_metrics(metrics, self.name.replace("-", "_"))
