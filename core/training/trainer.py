"""Training: pure Python and torch, reporting through a TrainCallback, stoppable with a CancelToken.

Every epoch ends with an atomic checkpoint (what training changed, optimiser, schedule, every
random generator's state), so a run killed mid-epoch loses at most that epoch:
:func:`resume_training` rebuilds the run from ``run.json`` and continues exactly where the
checkpoint left off, giving the same result as an uninterrupted run.

Under torchrun with ``--distributed`` (core.training.distributed) every process runs this loop on its slice
of each batch; metrics are summed over the processes, and only rank 0 writes run.json, checkpoints
and the bundle.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import torch
from torch import nn

from core.base.cancel import CancelToken, cancel_hooks, check
from core.base.errors import Cancelled, TransferLabError
from core.data.dataset import DatasetScan, make_split
from core.data.items import ImageItem
from core.evaluation.calibration import calibration_report, calibration_sentence
from core.models.bundle import META_FILE, save_bundle
from core.models.network import set_train_mode
from core.models.preprocess import PRESETS
from core.training import distributed, runs
from core.training.checkpoint import (CHECKPOINT_FILE, LoopState, changed_state, read_checkpoint, restore,
                                      save_checkpoint)
from core.training.events import BatchEnd, EpochEnd, FitStart, Prepare, TrainCallback
from core.training.linear_head import fit_run_classifier
from core.training.method import TrainingMethod
from core.training.refit import refit_run_classifier
from core.training.result import TrainResult
from core.training.run_setup import Run, build_run, enter_epoch
from core.training.schedule import HEAD, is_staged
from core.training.settings import TrainSettings
from core.training.step import step_with_retry
from core.training.unknown_reference import fit_run_unknown

MIN_LOSS_IMPROVEMENT = 1e-4


def check_run_dir(run_dir: Path, data_root: Path, overwrite: bool) -> None:
    run_dir, data_root = Path(run_dir).resolve(), Path(data_root).resolve()
    if run_dir == data_root or data_root in run_dir.parents:
        raise TransferLabError(f"The output folder {run_dir} is inside your dataset folder; TransferLab never writes "
                               "into your data. Choose another output folder.")
    if (run_dir / META_FILE).exists() and not overwrite:
        raise TransferLabError(f"{run_dir} already holds a trained model; choose another output folder "
                               "(or allow overwriting).")
    epoch = runs.checkpoint_epoch(run_dir)
    if epoch and not overwrite:
        raise TransferLabError(f"{run_dir} holds an unfinished run (checkpoint after epoch {epoch}); continue it "
                               "with 'transferlab train --resume RUN', or allow overwriting to start over.")


def train(scan: DatasetScan, settings: TrainSettings, run_dir: Path, callback: TrainCallback | None = None,
          cancel: CancelToken | None = None, overwrite: bool = False, deadline: float | None = None,
          method: TrainingMethod | None = None) -> TrainResult:
    """Train a classifier on ``scan`` and save a model bundle in ``run_dir``. With a ``deadline``
    (``time.monotonic()`` value) training stops early, keeping the best epoch, when the next epoch
    would not end before it, and mid-epoch once it has passed (core.methods.auto_search's time budget).
    A ``method`` (core.training.method) changes what the loop does, e.g. domain adaptation."""
    cb = callback or TrainCallback()
    method = method or TrainingMethod()
    if method.name and distributed.current() is not None:
        raise TransferLabError(f"{method.name} runs in a single process; leave out --distributed")
    settings.validate()
    scan.require_trainable()
    run_dir = Path(run_dir)
    check_run_dir(run_dir, scan.root, overwrite)
    distributed.all_sum([0.0])  # every rank has checked the folder before rank 0 writes into it
    split = make_split(scan, settings.val_fraction, settings.seed)
    record = {"status": runs.RUNNING, "dataset_root": str(scan.root), "classes": list(scan.classes),
              "settings": settings.to_dict(), "split": {"train": runs.relative_items(split.train, scan.root),
                                                        "val": runs.relative_items(split.val, scan.root)},
              "dataset": scan.summary(), "checkpoint_epoch": 0, "created": runs.now_utc(),
              **({"method": method.name} if method.name else {}), **method.record()}
    with contextlib.ExitStack() as stack:
        def claim() -> None:
            stack.enter_context(runs.RunLock(run_dir))
            (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)  # an older run's checkpoint must not be resumed
            runs.write_record(run_dir, record)
        distributed.main_first(claim, others=False)
        return _guarded(run_dir, record, cb, cancel, lambda epoch: build_run(settings, scan.classes, split.train,
                                                                               split.val, cb, cancel, epoch, method),
                        None, deadline)


def resume_training(run_dir: Path, callback: TrainCallback | None = None, cancel: CancelToken | None = None,
                    method: TrainingMethod | None = None) -> TrainResult:
    """Continue an interrupted run from its last checkpoint, on the same images with the same settings
    (and the same ``method``, rebuilt by its caller from run.json: core.methods.resume)."""
    cb = callback or TrainCallback()
    run_dir = Path(run_dir)
    record = runs.read_record(run_dir)
    if (run_dir / META_FILE).exists() and record.get("status") == runs.FINISHED:
        raise TransferLabError(f"The run in {run_dir} has already finished; there is nothing to resume")
    method = method or TrainingMethod()
    if record.get("method", "") != method.name:
        raise TransferLabError(f"The run in {run_dir} was trained with {record.get('method') or 'plain training'}, "
                               f"not {method.name or 'plain training'}; resume it with 'transferlab train --resume "
                               "RUN' (core.methods.resume rebuilds its method)")
    if not (run_dir / CHECKPOINT_FILE).is_file():
        raise TransferLabError(f"The run in {run_dir} stopped before its first epoch ended; there is no checkpoint "
                               "to resume from. Start it again instead.")
    settings = TrainSettings.from_dict(record["settings"])
    root = Path(record["dataset_root"])
    items = {part: [ImageItem(root / rel, int(label)) for rel, label in record["split"][part]]
             for part in ("train", "val")}
    missing = [i.path for part in items.values() for i in part if not i.path.exists()]
    if missing:
        raise TransferLabError(f"{len(missing)} image(s) of this run are no longer in {root} (e.g. {missing[0]}); "
                               "it cannot continue on the same images. Start a new run instead.")
    with contextlib.ExitStack() as stack:
        def claim() -> None:
            stack.enter_context(runs.RunLock(run_dir))
            record["status"] = runs.RUNNING
            runs.write_record(run_dir, record)
        distributed.main_first(claim, others=False)
        return _guarded(run_dir, record, cb, cancel,
                        lambda epoch: build_run(settings, record["classes"], items["train"], items["val"], cb,
                                                cancel, epoch, method),
                        run_dir / CHECKPOINT_FILE)


def _guarded(run_dir: Path, record: dict, cb: TrainCallback, cancel: CancelToken | None, build,
             checkpoint: Path | None, deadline: float | None = None) -> TrainResult:
    """Build (as the run is in the checkpoint's epoch, when resuming) and fit, keeping run.json's status
    true whatever happens."""
    try:
        progress, start = LoopState(), 1
        if checkpoint is None:
            run = build(1)
        else:
            state = read_checkpoint(checkpoint)
            run = build(int(state["epoch"]))
            progress, start = restore(run, state)
            cb.on_status(f"Resuming after epoch {start - 1} of {run.settings.epochs}")
        result = _fit(run, run_dir, record, progress, start, cb, cancel, deadline)
    except Cancelled:
        if distributed.is_main():
            runs.set_status(run_dir, runs.CANCELLED)
        raise
    except BaseException as exc:
        if distributed.is_main():
            runs.set_status(run_dir, runs.FAILED, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise
    if distributed.is_main() and result.cancelled:  # with a model, and resumable to the planned end
        runs.set_status(run_dir, runs.CANCELLED, f"cancelled after epoch {len(result.history)}; the best epoch "
                                                 f"({result.best_epoch}) is saved")
    elif distributed.is_main():
        runs.set_status(run_dir, runs.FINISHED)
    return result


class _OutOfTime(Exception):
    """The deadline passed during an epoch."""


def _fit(run: Run, run_dir: Path, record: dict, progress: LoopState, start_epoch: int, cb: TrainCallback,
         cancel: CancelToken | None, deadline: float | None = None) -> TrainResult:
    settings = run.settings  # run.engine may change between stages
    hooks = cancel_hooks(run.net, cancel)
    batches = run.engine.batches_per_epoch
    cb.on_fit_start(FitStart(settings.epochs, batches, len(run.train_items), len(run.val_items), run.device_name,
                             run.freeze.trainable_params, run.freeze.total_params, run.loaded.source,
                             "; ".join(filter(None, [run.engine.description, run.method.description()])),
                             _precision_words(run), start_epoch,
                             settings.head_epochs if is_staged(settings) else 0))
    started, stopped_early, cancelled = time.monotonic(), False, False
    if is_staged(settings):
        cb.on_status(_stage_message(run, start_epoch))
    try:
        for epoch in range(start_epoch, settings.epochs + 1):
            epoch_start = time.monotonic()
            if _no_time_for_epoch(deadline, progress.history, epoch_start):
                stopped_early = True
                cb.on_status(f"Stopping after epoch {epoch - 1}: the next epoch would not end within the time budget")
                break
            if enter_epoch(run, epoch, cb, cancel):
                cb.on_status(_stage_message(run, epoch))
            set_train_mode(run.net)
            run.method.start_epoch(epoch)
            if settings.classifier_fit == "converged" or (settings.lp_ft and run.stage.name == HEAD):
                seen, correct, loss_sum = fit_run_classifier(run, cb, cancel)
            else:
                try:
                    seen, correct, loss_sum = train_epoch(run, progress, epoch, cb, cancel, deadline)
                except _OutOfTime:
                    if progress.best_state is None:
                        raise TransferLabError("The time budget ran out before the first epoch ended") from None
                    stopped_early = True
                    cb.on_status(f"Stopped during epoch {epoch}: the time budget ran out; the best epoch is kept")
                    break
            if seen == 0:
                raise TransferLabError("No training image could be read; check the dataset report")
            distributed.sync_buffers(run.net)  # BatchNorm statistics averaged over the ranks
            val_loss, val_accuracy = _validate(run, cancel, progress.micro_batch)
            done = epoch - start_epoch + 1
            entry = EpochEnd(epoch, settings.epochs, loss_sum / seen, correct / seen, val_loss, val_accuracy,
                             time.monotonic() - epoch_start,
                             (time.monotonic() - started) / done * (settings.epochs - epoch),
                             is_best=run.method.keep_last_epoch or _improves(val_accuracy, val_loss, progress.best))
            progress.history.append({**entry.to_dict(), **_epoch_extras(run), **run.method.epoch_extras()})
            if entry.is_best:
                progress.best = {"epoch": epoch, "val_accuracy": val_accuracy, "val_loss": val_loss}
                progress.best_state = changed_state(run)
                progress.stale = 0
            else:
                progress.stale += 1
            save_checkpoint(run, run_dir, record, epoch, progress)
            cb.on_epoch_end(entry)
            words = run.method.epoch_status(epoch)
            if words:
                cb.on_status(words)
            if settings.early_stopping_patience and progress.stale >= settings.early_stopping_patience and \
                    run.stage.name != HEAD:  # the head-only stage always hands over to fine-tuning
                stopped_early = epoch < settings.epochs
                cb.on_status(f"Stopping early: no improvement for {progress.stale} epochs")
                break
    except Cancelled:
        if progress.best_state is None or distributed.current() is not None:
            raise  # nothing finished yet (or several processes): nothing to keep
        cancelled = stopped_early = True
        cb.on_status(f"Cancelled after epoch {len(progress.history)} of {settings.epochs}: saving the best epoch "
                     f"({progress.best['epoch']}) as the model; the run can be resumed to epoch {settings.epochs}")
    finally:
        for hook in hooks:
            hook.remove()
    # "I don't know" needs one more pass over the images where no features are cached: not after Cancel, and
    # not when it could end past the deadline (an epoch, forward and backward, is longer than that pass)
    quick = cancelled or _no_time_for_epoch(deadline, progress.history, time.monotonic())
    return _finish(run, run_dir, record, progress, stopped_early, cb, cancelled, quick)


def _no_time_for_epoch(deadline: float | None, history: list[dict], now: float) -> bool:
    """True when the last epoch's length from now would pass the deadline (never before the first epoch)."""
    return deadline is not None and bool(history) and now + history[-1]["seconds"] > deadline


def train_epoch(run: Run, progress: LoopState, epoch: int, cb: TrainCallback,
                cancel: CancelToken | None, deadline: float | None = None) -> tuple[int, int, float]:
    """One pass over the training batches (a training method's step hook, the out-of-memory retry, Cancel, a
    BatchEnd event per step); returns (images seen, right, summed loss). The learning-rate sweep
    (core.methods.lr_finder) runs its steps through it too, stopping from its callback."""
    seen = correct = 0
    loss_sum = 0.0
    t0 = time.monotonic()
    batches = run.engine.batches_per_epoch
    for b, (x, y) in enumerate(run.engine.train_batches(epoch), 1):
        check(cancel)
        if deadline is not None and time.monotonic() > deadline:
            raise _OutOfTime
        run.method.before_step(epoch, b, batches)
        batch_loss, batch_correct, n = step_with_retry(run, progress, x, y, cb)
        seen, correct, loss_sum = seen + n, correct + batch_correct, loss_sum + batch_loss * n
        now = time.monotonic()  # images/s includes decoding and augmentation, as the user waits for them
        cb.on_batch_end(BatchEnd(epoch, b, batches, batch_loss, batch_correct / n, n / max(1e-9, now - t0),
                                 run.optimizer.param_groups[0]["lr"]))
        t0 = now
    return seen, correct, loss_sum


def _stage_message(run: Run, epoch: int) -> str:
    if run.stage.name == HEAD:
        return f"Stage 1: training only the new classifier (epochs {run.stage.first_epoch}-{run.stage.last_epoch})"
    groups = run.freeze.freeze_depth
    return (f"Epoch {epoch}: fine-tuning the top {groups} layer group{'s' if groups > 1 else ''} and the new classifier "
            f"({run.freeze.trainable_params:,} parameters; {run.engine.description})")


def _epoch_extras(run: Run) -> dict:
    """What a staged or L2-SP run adds to an epoch's history entry."""
    extras = {}
    if is_staged(run.settings):
        extras.update(stage=run.stage.name, trainable_groups=run.freeze.freeze_depth)
    if run.regularizer is not None:
        distance = run.regularizer.distance()
        extras.update(l2sp_distance=distance, l2sp_penalty=0.5 * run.settings.l2sp_alpha * distance ** 2)
    return extras


def _precision_words(run: Run) -> str:
    """What the user is told about precision: mixed precision only ever in fine-tuning steps."""
    if run.plan.autocast_dtype is None:
        return run.plan.describe()
    return f"{run.plan.describe()} for fine-tuning steps; features, validation and predictions in fp32"


@torch.inference_mode()
def _validate(run: Run, cancel: CancelToken | None, micro: int | None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on the validation images (nan when none could be read);
    in micro-batches too once training had to use them."""
    run.net.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    for xb, yb in run.engine.val_batches():
        for x, y in zip(xb.split(micro or len(yb)), yb.split(micro or len(yb))):
            check(cancel)
            with run.plan.evaluation.autocast():
                logits = run.engine.module(x)
            logits = logits.float()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
    loss_sum, correct, seen = distributed.all_sum([loss_sum, float(correct), float(seen)])  # validation is sharded
    if not seen:
        return float("nan"), float("nan")
    return loss_sum / seen, correct / seen


@torch.inference_mode()
def _val_logits(run: Run, micro: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    run.net.eval()
    logits, labels = [], []
    for xb, yb in run.engine.val_batches():
        for x, y in zip(xb.split(micro or len(yb)), yb.split(micro or len(yb))):
            with run.plan.evaluation.autocast():
                logits.append(run.engine.module(x).float().cpu())
            labels.append(y.cpu())
    parts = distributed.gather((torch.cat(logits), torch.cat(labels)) if logits else
                               (torch.empty(0, len(run.classes)), torch.empty(0, dtype=torch.long)))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])  # every rank's share of validation


FINISHING = "Finishing the model"
FINISHING_WHAT = ("checking its probabilities, fitting its classifier on all labelled images where that is quick, "
                  "learning when to say “I don't know”")


def _finish(run: Run, run_dir: Path, record: dict, p: LoopState, stopped_early: bool,
            cb: TrainCallback, cancelled: bool = False, quick: bool = False) -> TrainResult:
    settings = run.settings
    run.net.load_state_dict(p.best_state, strict=False)
    logits = _val_logits(run, p.micro_batch)
    result = TrainResult(run_dir, p.best["epoch"], p.best["val_accuracy"], p.best["val_loss"], p.history, stopped_early,
                         cancelled)
    if not distributed.is_main():
        return result  # rank 0 calibrates and saves the bundle
    cb.on_prepare(Prepare(FINISHING, 0, 0, FINISHING_WHAT))  # no count: the window shows a busy bar
    calibration = calibration_report(*logits)
    refit = refit_run_classifier(run, logits[0], Path(record["dataset_root"]), cb)
    cb.on_status(calibration_sentence(calibration))
    unknown = fit_run_unknown(run, cb, passing=not quick)
    meta = {
        "classes": list(run.classes),
        "model_name": settings.model_name,
        "preprocessing": run.pp.to_dict(),
        "strategy": settings.strategy,
        "freeze_depth": settings.freeze_depth,
        "settings": settings.to_dict(),
        "weights_source": run.loaded.source,
        "weights": "pretrained" if run.loaded.pretrained else "none",  # "none": trained from scratch
        "augmentation": PRESETS[settings.augmentation].description,
        "metrics": {"history": p.history, "best_epoch": p.best["epoch"], "val_accuracy": p.best["val_accuracy"],
                    "val_loss": p.best["val_loss"]},
        "dataset": {**record["dataset"], "split": {"train": len(run.train_items), "val": len(run.val_items)}},
        "device": run.device_name,
        "compute": {"precision": run.engine.plan.precision, "evaluation_precision": "fp32",
                    "channels_last": run.plan.channels_last, **run.engine.details},
        "class_weights": run.class_weights,
        "calibration": calibration,
        **refit,
        **unknown,
        **run.method.bundle_meta(p.history),
        "trainable_params": run.freeze.trainable_params,
        "created": runs.now_utc(),
    }
    if cancelled:  # Results and the report say so; resume_training continues from the checkpoint
        meta["stopped"] = {"reason": "cancelled", "after_epoch": len(p.history), "of": settings.epochs}
    save_bundle(run_dir, run.net.cpu(), meta)
    cb.on_status(f"Saved the model to {run_dir}")
    return result


def _improves(acc: float, loss: float, best: dict) -> bool:
    """Better validation accuracy, or the same accuracy with a clearly lower validation loss."""
    if best["epoch"] == 0:
        return True
    if acc != acc:  # nan: no validation images could be read
        return loss < best["val_loss"] - MIN_LOSS_IMPROVEMENT
    return acc > best["val_accuracy"] or (acc == best["val_accuracy"]
                                          and loss < best["val_loss"] - MIN_LOSS_IMPROVEMENT)
