"""sentence-transformers' trainer with langmix's batch plan in place of its samplers.

Everything else (optimiser, schedule, mixed precision, checkpoints, resume, DDP, logging) is the
stock ``SentenceTransformerTrainer`` / HF ``Trainer``, used through its public hooks only. What changes:

* the train and validation data loaders draw batches from a :class:`~langmix.batching.samplers.BatchPlan`
  (its own seed; sentence-transformers seeds its samplers with 0); the trainer's ``set_epoch`` reaches the
  sampler (directly, or through the dataset where accelerate's wrappers hide it), so a resumed run replays
  the batches of its epoch exactly;
* the loss is logged per batch kind (``loss_mono`` / ``loss_cross``, ``eval_loss_mono`` / ...);
* every trained batch is counted as it is consumed (:attr:`HybridTrainer.trained`), and the counts are saved
  in each checkpoint (``batch_counts.rank<r>.json``), so a resumed run reports the whole run;
* optionally every trained batch is appended to ``batches.rank<r>.jsonl`` (ids and languages).
"""

from __future__ import annotations

import json
import logging
from functools import reduce
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformerTrainer
from torch.utils.data import DataLoader
from transformers import TrainerCallback
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_callback import TrainerState
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, TrainOutput, get_last_checkpoint

from langmix.batching.composition import BatchCounts
from langmix.batching.samplers import CROSS, MONO, BatchPlan, ParallelBatchSampler, ParallelRows
from langmix.io import write_atomic, write_json
from langmix.training.collator import BATCH_KEY, ParallelCollator

KINDS = (MONO, CROSS)
logger = logging.getLogger(__name__)


def counts_file(checkpoint: str | Path, rank: int) -> Path:
    """One rank's trained-batch counts in a checkpoint (next to transformers' ``rng_state_<rank>.pth``)."""
    return Path(checkpoint) / f"batch_counts.rank{rank}.json"


def loss_file(checkpoint: str | Path, rank: int) -> Path:
    """One rank's running training-loss sum in a checkpoint, so a resumed run reports the whole run's."""
    return Path(checkpoint) / f"train_loss.rank{rank}.json"


class _CountsInCheckpoints(TrainerCallback):
    """Writes each rank's trained-batch counts into every checkpoint the trainer saves."""

    def __init__(self, trainer: HybridTrainer):
        self.trainer = trainer

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        write_json(counts_file(folder, args.process_index), self.trainer.trained.summary())
        total, batches = self.trainer.loss_so_far()
        write_json(loss_file(folder, args.process_index), {"sum": total, "batches": batches})


class HybridTrainer(SentenceTransformerTrainer):
    def __init__(
        self,
        *args: Any,
        plan: BatchPlan,
        eval_plan: BatchPlan | None = None,
        batch_log_dir: str | Path | None = None,
        callbacks: list[TrainerCallback] | None = None,
        **kwargs: Any,
    ):
        self.plan = plan
        self.eval_plan = eval_plan
        self.batch_log_dir = Path(batch_log_dir) if batch_log_dir else None
        self.trained = BatchCounts()  # this rank's trained batches, the resumed checkpoint's included
        # this rank's training-loss sum (float64, batch by batch) and batch count, the checkpoint's included
        self._loss_sum, self._loss_batches = 0.0, 0
        self._train_sampler: ParallelBatchSampler | None = None
        # (kind index, detached loss) of each batch since the last log, per mode; read at log time
        self._kind_losses: dict[str, list[tuple[int, torch.Tensor]]] = {"train": [], "eval": []}
        super().__init__(
            *args,
            train_dataset=ParallelRows(plan),
            eval_dataset=ParallelRows(eval_plan) if eval_plan is not None else None,
            # first, so a checkpoint has its counts before any later callback sees it
            callbacks=[_CountsInCheckpoints(self), *(callbacks or [])],
            **kwargs,
        )

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any):
        """As ``Trainer.train``; a resumed run starts from the checkpoint's trained-batch counts."""
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir) or True
        self.trained = BatchCounts()
        self._loss_sum, self._loss_batches = 0.0, 0
        if isinstance(resume_from_checkpoint, str):
            self.trained = self._checkpoint_counts(resume_from_checkpoint)
            self._trim_batch_log(resume_from_checkpoint)
            self._loss_sum, self._loss_batches = self._checkpoint_loss(resume_from_checkpoint)
            state = TrainerState.load_from_json(str(Path(resume_from_checkpoint) / TRAINER_STATE_NAME))
            if 0 < self.args.max_steps <= state.global_step:
                # every step is trained already (killed after the last checkpoint, before the run was
                # marked finished): transformers would train one more batch before it checks the step
                # count, so take the checkpoint as the end of training instead
                self._load_from_checkpoint(resume_from_checkpoint)
                self.state = state
                return TrainOutput(state.global_step, self.train_loss() or 0.0, {})
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _checkpoint_loss(self, checkpoint: str) -> tuple[float, int]:
        path = loss_file(checkpoint, self.args.process_index)
        if not path.is_file():
            logger.warning("%s has no loss sum: train_loss covers the steps from the resume on", checkpoint)
            return 0.0, 0
        doc = json.loads(path.read_text(encoding="utf-8"))
        return float(doc["sum"]), int(doc["batches"])

    def loss_so_far(self) -> tuple[float, int]:
        """This rank's training-loss sum and batch count so far, the batches not yet logged included."""
        pending = self._kind_losses["train"]
        values = torch.stack([loss.float() for _, loss in pending]).cpu().tolist() if pending else []
        return self._loss_sum + sum(values), self._loss_batches + len(values)

    def train_loss(self) -> float | None:
        """The mean training loss per batch over the whole run (a resumed run's earlier part included, so
        it equals an uninterrupted run's), summed over ranks."""
        total, batches = self.loss_so_far()
        if self.args.world_size > 1:
            from accelerate.utils import gather_object

            parts = gather_object([(total, batches)])
            total, batches = sum(p[0] for p in parts), sum(p[1] for p in parts)
        return total / batches if batches else None

    def _trim_batch_log(self, checkpoint: str) -> None:
        """Keep the batch log's records up to the checkpoint's step: the batches a killed run trained after
        its last (complete) checkpoint are trained again, and must not be logged twice. A line cut by the
        kill goes too."""
        if self.batch_log_dir is None:
            return
        path = self.batch_log_dir / f"batches.rank{self.args.process_index}.jsonl"
        if not path.is_file():
            return
        step = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))[
            "global_step"
        ]
        kept = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line + "\n")
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
        write_atomic(path, "".join(kept))

    def _checkpoint_counts(self, checkpoint: str) -> BatchCounts:
        path = counts_file(checkpoint, self.args.process_index)
        if not path.is_file():
            logger.warning(
                "%s has no batch counts: batch_composition.json counts from the resume on", checkpoint
            )
            return BatchCounts()
        return BatchCounts.from_summary(json.loads(path.read_text(encoding="utf-8")))

    def trained_composition(self) -> dict[str, Any]:
        """The batches every rank trained on, summed (the ``trained`` part of ``batch_composition.json``)."""
        counts = self.trained
        if self.args.world_size > 1:
            from accelerate.utils import gather_object

            parts = gather_object([self.trained.summary()])
            counts = reduce(BatchCounts.merge, map(BatchCounts.from_summary, parts))
        return counts.summary()

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
            ParallelRows(plan, sampler=sampler),
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

    # ---------------------------------------------------------------- what each batch was
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        meta = inputs.pop(BATCH_KEY, None)
        out = super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )
        if meta is not None:
            loss = out[0] if return_outputs else out
            mode = "train" if self.model.training else "eval"
            self._kind_losses[mode].append((KINDS.index(meta["kind"]), loss.detach()))
            if mode == "train":
                self.trained.add(
                    meta["kind"], meta["language"], meta["dataset"], meta["qlang"], meta["plang"]
                )
                if self.batch_log_dir is not None:
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
            sums, counts = self._kind_totals(mode)
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
        return super().log(logs, start_time)

    def _kind_totals(self, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss sums (float64, added batch by batch in training order) and batch counts per kind since the
        last log. The losses are read off the device here, once per log: reading each in ``compute_loss``
        made the host wait for every forward pass before it could queue the backward pass."""
        pending, self._kind_losses[mode] = self._kind_losses[mode], []
        sums = torch.zeros(len(KINDS), dtype=torch.float64)
        counts = torch.zeros(len(KINDS), dtype=torch.float64)
        if pending:
            values = torch.stack([loss.float() for _, loss in pending]).cpu().tolist()
            for (k, _), value in zip(pending, values, strict=True):
                sums[k] += value
                counts[k] += 1
            if mode == "train":
                self._loss_sum += sum(values)
                self._loss_batches += len(values)
        return sums, counts
