"""``train(config) -> TrainResult``: hybrid batch training of a sentence-transformers model (SPEC §2, §3).

The run folder (``config.output_dir``)::

    config.yaml              the resolved configuration (re-run with --config run/config.yaml)
    run.json                 library versions, device and precision, data summaries, the batch plan,
                             world size, the run's identity (what a resume must match: training.identity),
                             and ``result`` (written last: the run is finished when it is there)
    log_history.json         the trainer's log (loss, loss_mono, loss_cross, eval_loss, lr, ...)
    batch_composition.json   how many batches of each kind / language / dataset were trained on
    checkpoints/             HF checkpoints (resume with resume: auto); the best is kept
    model/                   the final model (the best checkpoint by validation loss), loads with
                             SentenceTransformer(path); saved aside and moved in as a whole. With
                             merge_start > 0 it is that model interpolated with the start model's weights
    model-unmerged/          with merge_start > 0: the fine-tuned model before the interpolation
    batches.rank<r>.jsonl    with batch_log: every trained batch (ids, languages), per rank
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langmix.batching.samplers import BatchPlan
from langmix.data.parallel import ParallelDataset
from langmix.io import FolderLock, atomic_folder, library_versions, write_atomic, write_json
from langmix.models.cache import model_fingerprint
from langmix.models.merge import interpolate_into
from langmix.models.precision import device_description
from langmix.training.checkpoints import resume_from
from langmix.training.config import TrainConfig
from langmix.training.identity import claim_run_folder, is_finished, run_identity
from langmix.training.plans import build_plans
from langmix.training.setup import (
    build_loss,
    freeze_word_embeddings,
    load_training_data,
    load_training_model,
    resolve_prompts,
    trained_precision,
    training_arguments,
)
from langmix.training.temperature import ResolvedTemperature, resolve_temperature

__all__ = ["TrainResult", "build_plans", "load_training_data", "train"]

logger = logging.getLogger(__name__)
UNMERGED = "model-unmerged"


@dataclass
class TrainResult:
    run_dir: Path
    model_dir: Path
    global_step: int
    best_checkpoint: str | None
    best_metric: float | None
    train_loss: float | None
    runtime_s: float
    process_index: int = 0  # this process's rank (only rank 0 writes the run folder)
    log_history: list[dict[str, Any]] = field(default_factory=list)
    composition: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None  # the temperature trained at (``auto`` resolved)
    unmerged_model_dir: Path | None = None  # with merge_start > 0: the model before the interpolation


def _log_history_writer(run_dir: Path):
    from transformers import TrainerCallback

    class LogHistoryWriter(TrainerCallback):
        """Keep run_dir/log_history.json current, so a killed run still has its log."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero:
                write_json(run_dir / "log_history.json", state.log_history)

    return LogHistoryWriter()


def _seeded_model(config: TrainConfig, model) -> tuple[Any, tuple[int, int]]:
    """Threads and seed first (building a model may draw random numbers), then the model, prepared."""
    from transformers import set_seed

    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    if model is None:
        model = load_training_model(config)
    return model, _prepare_model(config, model)


def _prepare_model(config: TrainConfig, model) -> tuple[int, int]:
    """Set the training sequence length and freeze what is asked; (the model's own max length, frozen params).

    Train with short sequences if asked, but save the model with its own maximum length, so that evaluation
    (e.g. sentence+paragraph candidates) is not silently truncated to the training length.
    """
    saved_max_len = model.max_seq_length
    if config.max_seq_length:
        model.max_seq_length = config.max_seq_length
    frozen = freeze_word_embeddings(model) if config.freeze_embeddings else 0
    return saved_max_len, frozen


def _run_info(
    config: TrainConfig,
    args,
    model,
    sets: tuple[Sequence[ParallelDataset], Sequence[ParallelDataset]],
    plans: tuple[BatchPlan, BatchPlan | None],
    prompts: dict[str, str],
    model_info: tuple[int, int],
) -> dict[str, Any]:
    """What ``run.json`` records before training starts."""
    saved_max_len, frozen = model_info
    return {
        "versions": library_versions(),
        "world_size": args.world_size,
        "device": str(args.device),
        "hardware": device_description(str(args.device)),  # CPU model / GPU name, native bf16
        "precision": trained_precision(args),  # config.precision resolved for this device
        "frozen_parameters": frozen,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "prompts": prompts,
        "max_seq_length": {"train": model.max_seq_length, "saved_model": saved_max_len},
        "data": {"train": [ds.summary() for ds in sets[0]], "validation": [ds.summary() for ds in sets[1]]},
        "plan": plans[0].describe(),
        "validation_plan": plans[1].describe() if plans[1] else None,
    }


def _evaluator(config: TrainConfig, precision: str):
    """The LAReQA evaluator of every validation, if asked (imported late: it loads sentence-transformers);
    it encodes at the training precision."""
    if not config.lareqa_eval:
        return None
    from langmix.evaluation.in_training import LareqaEvaluator

    return LareqaEvaluator(
        config.lareqa_eval,
        max_questions=config.lareqa_max_questions,
        languages=config.lareqa_languages,
        data_root=config.data_root,
        precision=precision,
    )


@contextlib.contextmanager
def _checkpoint_cards_without_examples(model) -> Iterator[None]:
    """While training, checkpoints are saved without the model card's usage example: sentence-transformers
    encodes example sentences for the README of every save (two forward passes, no random draws, nothing
    else saved depends on them). The final model's card, saved after this, still has it."""
    card = getattr(model, "model_card_data", None)
    before = getattr(card, "generate_widget_examples", None)
    if before is None:
        yield
        return
    card.generate_widget_examples = False
    try:
        yield
    finally:
        card.generate_widget_examples = before


@dataclass
class _Prepared:
    """Everything a run is built from, made before its folder is touched (so a refusal writes nothing)."""

    config: TrainConfig
    sets: tuple[list[ParallelDataset], list[ParallelDataset]]
    model: Any
    model_info: tuple[int, int]  # the model's own max length, frozen parameters
    prompts: dict[str, str]
    args: Any  # SentenceTransformerTrainingArguments
    plans: tuple[BatchPlan, BatchPlan | None]
    identity: dict[str, Any]
    temperature: ResolvedTemperature
    start_state: dict[str, Any] | None  # the start model's weights, kept for merge_start

    @property
    def main(self) -> bool:
        return self.args.process_index == 0


def _prepare(config: TrainConfig, model) -> _Prepared:
    # temperature auto becomes a number first: the loss, config.yaml and the run's identity all hold it
    temperature = resolve_temperature(config.temperature, config.model)
    config = dataclasses.replace(config, temperature=temperature.value)
    sets = load_training_data(config)
    model, model_info = _seeded_model(config, model)
    start_state = (
        {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if config.merge_start
        else None
    )
    prompts = resolve_prompts(config, model, config.hard_negatives)
    args = training_arguments(config, prompts, has_eval=bool(sets[1]))
    plans = build_plans(config, *sets, args.world_size)
    identity = run_identity(
        config, [*sets[0], *sets[1]], model_fingerprint(model), trained_precision(args), args.world_size
    )
    return _Prepared(
        config, sets, model, model_info, prompts, args, plans, identity, temperature, start_state
    )


def train(
    config: TrainConfig,
    *,
    callbacks: Sequence[Any] = (),
    model=None,
    notice: Callable[[str], None] = logger.warning,
) -> TrainResult:
    """Fine-tune ``config.model`` (or ``model``) on parallel data with the configured batching.

    The output folder is locked (a second training there waits for the first) and claimed before anything
    is written (:func:`~langmix.training.identity.claim_run_folder`): another run there is refused without
    ``overwrite``, a resume of a run made with other settings is refused, and a resume starts from the
    newest *complete* checkpoint (``notice`` gets one line per torn one set aside)."""
    config.validate()
    start = time.perf_counter()
    run = _prepare(config, model)
    with FolderLock(config.output_dir, "training run") if run.main else contextlib.nullcontext():
        if config.resume and is_finished(Path(config.output_dir)):
            # e.g. a second process waited for this folder's lock while the first one finished the run
            return _finished_result(run, notice)
        return _train(run, callbacks, notice, start)


def _finished_result(run: _Prepared, notice: Callable[[str], None]) -> TrainResult:
    """A resume of a finished run does nothing, once the run is checked to be this one (same identity)."""
    run_dir = Path(run.config.output_dir)
    claim_run_folder(run_dir, run.config, run.identity)  # refuses a finished run made with other settings
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    done = info["result"]
    notice(f"{run_dir}: this run finished earlier (step {done['global_step']}); nothing to resume")
    history = run_dir / "log_history.json"
    composition = run_dir / "batch_composition.json"
    return TrainResult(
        run_dir=run_dir,
        model_dir=run_dir / "model",
        global_step=done["global_step"],
        best_checkpoint=done.get("best_checkpoint"),
        best_metric=done.get("best_eval_loss"),
        train_loss=done.get("train_loss"),
        runtime_s=0.0,
        process_index=run.args.process_index,
        log_history=json.loads(history.read_text(encoding="utf-8")) if history.is_file() else [],
        composition=json.loads(composition.read_text(encoding="utf-8")) if composition.is_file() else {},
        temperature=run.temperature.value,
        unmerged_model_dir=run_dir / UNMERGED if run.config.merge_start else None,
    )


def _train(
    run: _Prepared, callbacks: Sequence[Any], notice: Callable[[str], None], start: float
) -> TrainResult:
    from langmix.training.trainer import HybridTrainer

    config, args, model, main = run.config, run.args, run.model, run.main
    run_dir = Path(config.output_dir)
    # the main process claims the folder and sets torn checkpoints aside first; the others then find the
    # same checkpoint (a refusal on the main process ends the job)
    with args.main_process_first(local=False, desc="claiming the run folder"):
        if main:
            claim_run_folder(run_dir, config, run.identity)
        resume = resume_from(config.resume, run_dir / "checkpoints", notice=notice, main=main)
    run_info = {
        **_run_info(config, args, model, run.sets, run.plans, run.prompts, run.model_info),
        "temperature": run.temperature.to_dict(),
        "merge": _merge_info(config),
        "identity": run.identity,
    }
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(run_dir / "config.yaml", config.to_yaml())
        write_json(run_dir / "run.json", run_info)  # no "result": unfinished until the end

    trainer = HybridTrainer(
        model=model,
        args=args,
        evaluator=_evaluator(config, run_info["precision"]),
        loss=build_loss(config, model),
        callbacks=[_log_history_writer(run_dir), *callbacks],
        plan=run.plans[0],
        eval_plan=run.plans[1],
        batch_log_dir=run_dir if config.batch_log else None,
    )
    with _checkpoint_cards_without_examples(model):
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)

    model.max_seq_length = run.model_info[0]
    if config.merge_start:
        _save_model(trainer, run_dir / UNMERGED, main=main)
        _save_merged(run, run_dir / "model")
        if args.world_size > 1:
            trainer.accelerator.wait_for_everyone()
    else:
        _save_model(trainer, run_dir / "model", main=main)
    state = trainer.state
    result = TrainResult(
        run_dir=run_dir,
        model_dir=run_dir / "model",
        global_step=state.global_step,
        best_checkpoint=state.best_model_checkpoint,
        best_metric=state.best_metric,
        train_loss=trainer.train_loss(),
        runtime_s=time.perf_counter() - start,
        process_index=args.process_index,
        log_history=list(state.log_history),
        composition={"trained": trainer.trained_composition(), "plan": run.plans[0].describe()},
        temperature=run.temperature.value,
        unmerged_model_dir=run_dir / UNMERGED if config.merge_start else None,
    )
    if main:
        _finish_run_folder(result, run_info, str(resume) if resume else None)
    if args.world_size > 1:
        trainer.accelerator.wait_for_everyone()
    return result


def _save_model(trainer, target: Path, *, main: bool) -> None:
    """Save the final model into a temporary sibling, then put it in place as a whole: ``model/`` is always
    one complete model (the old one until the new one is saved), never a half-written mix."""
    partial = target.with_name(f".{target.name}.partial")
    if main and partial.exists():
        shutil.rmtree(partial)
    trainer.save_model(str(partial))  # every process: the save may gather sharded weights
    if trainer.args.world_size > 1:
        trainer.accelerator.wait_for_everyone()
    if main:
        if target.exists():
            shutil.rmtree(target)
        os.replace(partial, target)


def _merge_info(config: TrainConfig) -> dict[str, Any] | None:
    """What ``run.json`` says about the weight interpolation (None without one)."""
    if not config.merge_start:
        return None
    return {
        "start_weight": config.merge_start,
        "model": f"model/ = {1 - config.merge_start:g} x fine-tuned + {config.merge_start:g} x start model",
        "unmerged": UNMERGED,
    }


def _save_merged(run: _Prepared, target: Path) -> None:
    """``merge_start``: move the trained weights toward the start model's (WiSE-FT) and save the result as
    ``model/`` (main process; whole or not at all). The fine-tuned model was saved as ``model-unmerged/``."""
    if not run.main:
        return
    interpolate_into(run.model, run.start_state, run.config.merge_start)
    with atomic_folder(target) as folder:
        run.model.save(str(folder))


def _finish_run_folder(result: TrainResult, run_info: dict[str, Any], resume: str | None) -> None:
    run_dir = result.run_dir
    write_json(run_dir / "batch_composition.json", result.composition)
    write_json(run_dir / "log_history.json", result.log_history)
    run_info["result"] = {
        "global_step": result.global_step,
        "best_checkpoint": result.best_checkpoint,
        "best_eval_loss": result.best_metric,
        "train_loss": result.train_loss,
        "runtime_s": round(result.runtime_s, 2),
        "resumed_from": resume,
        "model": str(result.model_dir),
        "unmerged_model": str(result.unmerged_model_dir) if result.unmerged_model_dir else None,
    }
    write_json(run_dir / "run.json", run_info)
