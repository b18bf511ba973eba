"""Training: pure Python and torch, reporting through a TrainCallback, stoppable with a CancelToken."""

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.accel import ComputePlan, configure_threads, plain_plan, plan_for
from core.atomic import atomic_write
from core.bundle import META_FILE, save_bundle
from core.cancel import CancelToken, check
from core.dataset import DatasetScan, make_split
from core.decode_cache import default_budget_bytes
from core.devices import describe, resolve_device
from core.engines import DecodedEngine, Engine, FeatureEncoder, PlainEngine, cached_engine
from core.errors import TransferLabError
from core.events import BatchEnd, EpochEnd, FitStart, Prepare, TrainCallback
from core.fingerprint import modules_fingerprint
from core.health import IMBALANCE_RATIO, class_weights, imbalance
from core.network import (TransferNet, apply_freeze_depth, default_cut_index, optimizer_param_groups,
                          set_train_mode, trainable_state)
from core.preprocess import PRESETS, Preprocessing, preprocessing_for
from core.schedule import warmup_cosine
from core.settings import TrainSettings
from core.trunk import FrozenPrefix, TrainableTop, split_at_freeze_boundary
from core.weights import create_backbone

CHECKPOINT_FILE = "checkpoint.pt"


@dataclass
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_val_accuracy: float
    best_val_loss: float
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_run_dir(run_dir: Path, data_root: Path, overwrite: bool) -> None:
    run_dir, data_root = Path(run_dir).resolve(), Path(data_root).resolve()
    if run_dir == data_root or data_root in run_dir.parents:
        raise TransferLabError(f"The output folder {run_dir} is inside your dataset folder; TransferLab never writes "
                               "into your data. Choose another output folder.")
    if (run_dir / META_FILE).exists() and not overwrite:
        raise TransferLabError(f"{run_dir} already holds a trained model; choose another output folder "
                               "(or allow overwriting).")


def _save_checkpoint(run_dir: Path, net: nn.Module, optimizer, scheduler, scaler, epoch: int, history: list,
                     best_state: dict | None, best: dict) -> None:
    """What training changed so far (the frozen rest is the pretrained weights), written atomically."""
    payload = {"epoch": epoch, "model": trainable_state(net), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "history": history, "best": best, "best_model": best_state}
    if scaler is not None:
        payload["grad_scaler"] = scaler.state_dict()
    atomic_write(run_dir / CHECKPOINT_FILE, lambda tmp: torch.save(payload, tmp))


def loss_weights(train_items: list, num_classes: int, mode: str) -> list[float] | None:
    """Inverse-frequency class weights when asked for, or by default past core.health.IMBALANCE_RATIO."""
    counts = [0] * num_classes
    for item in train_items:
        counts[item.label] += 1
    ratio, _, _ = imbalance({str(c): n for c, n in enumerate(counts)})
    if mode == "off" or (mode == "auto" and ratio < IMBALANCE_RATIO):
        return None
    return class_weights(counts)


def _budget_bytes(settings: TrainSettings) -> int:
    return default_budget_bytes() if settings.cache_memory_mb is None else int(settings.cache_memory_mb) << 20


def make_engine(net: TransferNet, pp: Preprocessing, settings: TrainSettings, plan: ComputePlan,
                train_files: list, val_files: list, cb: TrainCallback, cancel: CancelToken | None) -> Engine:
    """The fastest way to feed this run (see core.engines); the plain path when speed-ups are off."""
    if not settings.speedups:
        return PlainEngine(net, train_files, val_files, pp, settings, plan)
    budget = _budget_bytes(settings)
    progress = lambda stage, done, total: cb.on_prepare(Prepare(stage, done, total))  # noqa: E731
    import timm
    import torchvision
    key = {"model": settings.model_name, "preprocessing": pp.to_dict(), "precision": plan.precision, "fold": 1,
           "versions": [torch.__version__, torchvision.__version__, timm.__version__]}
    if not any(p.requires_grad for p in net.backbone.parameters()):
        key.update(kind="features", cut=net.cut_index, weights=modules_fingerprint([net.backbone]))
        return cached_engine(net, FeatureEncoder(net), net.head, "features", key, train_files, val_files, pp,
                             settings, plan, budget, cancel, progress)
    split = split_at_freeze_boundary(net)
    if split is not None and settings.augmentation == "none":
        prefix = FrozenPrefix(split)
        key.update(kind="boundary", boundary=split.boundary, weights=modules_fingerprint([prefix]))
        return cached_engine(net, prefix, TrainableTop(net, split), "boundary", key, train_files, val_files, pp,
                             settings, plan, budget, cancel, progress)
    return DecodedEngine(net, train_files, val_files, pp, settings, plan, budget, cancel, progress)


@torch.inference_mode()
def _validate(net: TransferNet, engine: Engine, plan: ComputePlan, cancel: CancelToken | None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on the validation images (nan when none could be read)."""
    net.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    for x, y in engine.val_batches():
        check(cancel)
        with plan.autocast():
            logits = engine.module(x)
        logits = logits.float()
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
    if not seen:
        return float("nan"), float("nan")
    return loss_sum / seen, correct / seen


def train(scan: DatasetScan, settings: TrainSettings, run_dir: Path, callback: TrainCallback | None = None,
          cancel: CancelToken | None = None, overwrite: bool = False) -> TrainResult:
    """Train a classifier on ``scan`` and save a model bundle in ``run_dir``."""
    cb = callback or TrainCallback()
    settings.validate()
    scan.require_trainable()
    run_dir = Path(run_dir)
    check_run_dir(run_dir, scan.root, overwrite)
    split = make_split(scan, settings.val_fraction, settings.seed)
    seed_everything(settings.seed)
    configure_threads()
    device = resolve_device(settings.device)
    plan = plan_for(device, settings.precision) if settings.speedups else plain_plan(device)

    loaded = create_backbone(settings.model_name, settings.weights, settings.weights_file, progress=cb.on_status)
    pp = preprocessing_for(loaded.model, settings.image_size)
    cut = None
    if settings.strategy == "truncated":
        cut = settings.cut_index if settings.cut_index is not None else default_cut_index(loaded.model)
        if cut is None:
            raise TransferLabError(f"{settings.model_name} cannot be cut at an earlier layer; "
                                   "choose another strategy")
    # Seed again: loading weights may or may not have drawn random numbers (a first-time conversion
    # builds a model), and the new head's initialisation must not depend on that.
    seed_everything(settings.seed)
    net = TransferNet(loaded.model, len(scan.classes), cut)
    freeze = apply_freeze_depth(net, settings.freeze_depth)
    plan.prepare_module(net)
    train_files = [(i.path, i.label) for i in split.train]
    val_files = [(i.path, i.label) for i in split.val]
    engine = make_engine(net, pp, settings, plan, train_files, val_files, cb, cancel)
    hooks = _cancel_hooks(net, cancel)
    # The optimizer is built after freezing, so it holds only trainable parameters.
    optimizer = torch.optim.AdamW(optimizer_param_groups(net, settings.head_lr, settings.backbone_lr,
                                                         settings.weight_decay))
    scaler = plan.make_grad_scaler()
    weights = loss_weights(split.train, len(scan.classes), settings.class_weighting)
    if weights is not None:
        cb.on_status("Classes are unbalanced; the loss weights each class by the inverse of its share: " +
                     ", ".join(f"{c} {w:.2f}" for c, w in zip(scan.classes, weights)))
    loss_fn = nn.CrossEntropyLoss(weight=None if weights is None else torch.tensor(weights, device=device),
                                  label_smoothing=settings.label_smoothing)
    batches = engine.batches_per_epoch
    steps = batches * settings.epochs
    scheduler = warmup_cosine(optimizer, steps, int(settings.warmup_fraction * steps))

    run_dir.mkdir(parents=True, exist_ok=True)
    cb.on_fit_start(FitStart(settings.epochs, batches, len(train_files), len(val_files), describe(device),
                             freeze.trainable_params, freeze.total_params, loaded.source, engine.description,
                             plan.describe()))
    history: list[dict] = []
    best = {"epoch": 0, "val_accuracy": -1.0, "val_loss": float("inf")}
    best_state = None
    stale, stopped_early, started = 0, False, time.monotonic()
    for epoch in range(1, settings.epochs + 1):
        epoch_start = time.monotonic()
        set_train_mode(net)
        seen = correct = 0
        loss_sum = 0.0
        t0 = time.monotonic()
        for b, (x, y) in enumerate(engine.train_batches(epoch), 1):
            check(cancel)
            with plan.autocast():
                logits = engine.module(x)
                loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            scheduler.step()
            n = len(y)
            batch_loss = loss.item()
            batch_correct = (logits.argmax(1) == y).sum().item()
            seen, correct, loss_sum = seen + n, correct + batch_correct, loss_sum + batch_loss * n
            now = time.monotonic()  # images/s includes decoding and augmentation, as the user waits for them
            cb.on_batch_end(BatchEnd(epoch, b, batches, batch_loss, batch_correct / n,
                                     n / max(1e-9, now - t0), optimizer.param_groups[0]["lr"]))
            t0 = now
        if seen == 0:
            raise TransferLabError("No training image could be read; check the dataset report")
        val_loss, val_accuracy = _validate(net, engine, plan, cancel)
        record = EpochEnd(epoch, settings.epochs, loss_sum / seen, correct / seen, val_loss, val_accuracy,
                          time.monotonic() - epoch_start,
                          (time.monotonic() - started) / epoch * (settings.epochs - epoch),
                          is_best=_improves(val_accuracy, val_loss, best))
        history.append(record.to_dict())
        if record.is_best:
            best = {"epoch": epoch, "val_accuracy": val_accuracy, "val_loss": val_loss}
            best_state = trainable_state(net)
            stale = 0
        else:
            stale += 1
        _save_checkpoint(run_dir, net, optimizer, scheduler, scaler, epoch, history, best_state, best)
        cb.on_epoch_end(record)
        if settings.early_stopping_patience and stale >= settings.early_stopping_patience:
            stopped_early = epoch < settings.epochs
            cb.on_status(f"Stopping early: no improvement for {stale} epochs")
            break

    for hook in hooks:
        hook.remove()
    net.load_state_dict(best_state, strict=False)
    meta = {
        "classes": list(scan.classes),
        "model_name": settings.model_name,
        "preprocessing": pp.to_dict(),
        "strategy": settings.strategy,
        "freeze_depth": settings.freeze_depth,
        "settings": settings.to_dict(),
        "weights_source": loaded.source,
        "augmentation": PRESETS[settings.augmentation].description,
        "metrics": {"history": history, "best_epoch": best["epoch"], "val_accuracy": best["val_accuracy"],
                    "val_loss": best["val_loss"]},
        "dataset": {**scan.summary(), "split": {"train": len(train_files), "val": len(val_files)}},
        "device": describe(device),
        "compute": {"precision": plan.precision, "channels_last": plan.channels_last, **engine.details},
        "class_weights": weights,
        "trainable_params": freeze.trainable_params,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    save_bundle(run_dir, net.cpu(), meta)
    cb.on_status(f"Saved the model to {run_dir}")
    return TrainResult(run_dir, best["epoch"], best["val_accuracy"], best["val_loss"], history, stopped_early)


MIN_LOSS_IMPROVEMENT = 1e-4


def _cancel_hooks(net: nn.Module, cancel: CancelToken | None) -> list:
    """Check the cancel token before each stage and block of the network (names at most two
    levels deep: ``blocks.3``, ``layer2.1``), so Cancel is felt within a fraction of a batch
    even when one batch takes seconds on a CPU. Coarse on purpose: a hook on every module
    would add Python work that competes with the GUI thread for the GIL."""
    if cancel is None:
        return []
    coarse = [m for name, m in net.named_modules() if name.count(".") <= 2]
    return [m.register_forward_pre_hook(lambda *_: check(cancel)) for m in coarse]


def _improves(acc: float, loss: float, best: dict) -> bool:
    """Better validation accuracy, or the same accuracy with a clearly lower validation loss."""
    if best["epoch"] == 0:
        return True
    if acc != acc:  # nan: no validation images could be read
        return loss < best["val_loss"] - MIN_LOSS_IMPROVEMENT
    return acc > best["val_accuracy"] or (acc == best["val_accuracy"]
                                          and loss < best["val_loss"] - MIN_LOSS_IMPROVEMENT)
