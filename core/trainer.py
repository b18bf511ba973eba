"""Training: pure Python and torch, reporting through a TrainCallback, stoppable with a CancelToken."""

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.atomic import atomic_write
from core.bundle import META_FILE, save_bundle
from core.cancel import CancelToken, check
from core.dataset import DatasetScan, make_split
from core.devices import describe, resolve_device
from core.errors import TransferLabError
from core.events import BatchEnd, EpochEnd, FitStart, TrainCallback
from core import inference
from core.loading import make_loader
from core.network import TransferNet, apply_freeze_depth, default_cut_index, optimizer_param_groups, set_train_mode
from core.preprocess import PRESETS, eval_transform, preprocessing_for, train_transform
from core.schedule import warmup_cosine
from core.settings import TrainSettings
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


def _save_checkpoint(run_dir: Path, net: nn.Module, optimizer, scheduler, epoch: int, history: list,
                     best_state: dict | None, best: dict) -> None:
    payload = {"epoch": epoch, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "history": history, "best": best,
               "best_model": best_state}
    atomic_write(run_dir / CHECKPOINT_FILE, lambda tmp: torch.save(payload, tmp))


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
    device = resolve_device(settings.device)

    loaded = create_backbone(settings.model_name, settings.weights, settings.weights_file, progress=cb.on_status)
    pp = preprocessing_for(loaded.model, settings.image_size)
    cut = None
    if settings.strategy == "truncated":
        cut = settings.cut_index if settings.cut_index is not None else default_cut_index(loaded.model)
        if cut is None:
            raise TransferLabError(f"{settings.model_name} cannot be cut at an earlier layer; "
                                   "choose another strategy")
    net = TransferNet(loaded.model, len(scan.classes), cut)
    freeze = apply_freeze_depth(net, settings.freeze_depth)
    hooks = _cancel_hooks(net, cancel)
    net.to(device)
    # The optimizer is built after freezing, so it holds only trainable parameters.
    optimizer = torch.optim.AdamW(optimizer_param_groups(net, settings.head_lr, settings.backbone_lr,
                                                         settings.weight_decay))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    train_files = [(i.path, i.label) for i in split.train]
    val_files = [(i.path, i.label) for i in split.val]
    pin = device.type == "cuda"
    train_loader = make_loader(train_files, train_transform(pp, settings.augmentation, settings.allow_flips,
                                                            settings.allow_rotation),
                               settings.batch_size, shuffle=True, seed=settings.seed,
                               num_workers=settings.num_workers, pin_memory=pin)
    val_loader = make_loader(val_files, eval_transform(pp), settings.batch_size, num_workers=settings.num_workers,
                             pin_memory=pin)
    steps = len(train_loader) * settings.epochs
    scheduler = warmup_cosine(optimizer, steps, int(settings.warmup_fraction * steps))

    run_dir.mkdir(parents=True, exist_ok=True)
    cb.on_fit_start(FitStart(settings.epochs, len(train_loader), len(train_files), len(val_files),
                             describe(device), freeze.trainable_params, freeze.total_params, loaded.source))
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
        for b, batch in enumerate(train_loader, 1):
            check(cancel)
            if batch is None:
                continue
            x, y, _ = batch
            x, y = x.to(device, non_blocking=pin), y.to(device, non_blocking=pin)
            logits = net(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            n = len(y)
            batch_loss = loss.item()
            batch_correct = (logits.argmax(1) == y).sum().item()
            seen, correct, loss_sum = seen + n, correct + batch_correct, loss_sum + batch_loss * n
            now = time.monotonic()  # images/s includes decoding and augmentation, as the user waits for them
            cb.on_batch_end(BatchEnd(epoch, b, len(train_loader), batch_loss, batch_correct / n,
                                     n / max(1e-9, now - t0), optimizer.param_groups[0]["lr"]))
            t0 = now
        if seen == 0:
            raise TransferLabError("No training image could be read; check the dataset report")
        val = inference.run(net, val_loader, device, cancel)
        record = EpochEnd(epoch, settings.epochs, loss_sum / seen, correct / seen, val.loss, val.accuracy,
                          time.monotonic() - epoch_start,
                          (time.monotonic() - started) / epoch * (settings.epochs - epoch),
                          is_best=_improves(val.accuracy, val.loss, best))
        history.append(record.to_dict())
        if record.is_best:
            best = {"epoch": epoch, "val_accuracy": val.accuracy, "val_loss": val.loss}
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            stale = 0
        else:
            stale += 1
        _save_checkpoint(run_dir, net, optimizer, scheduler, epoch, history, best_state, best)
        cb.on_epoch_end(record)
        if settings.early_stopping_patience and stale >= settings.early_stopping_patience:
            stopped_early = epoch < settings.epochs
            cb.on_status(f"Stopping early: no improvement for {stale} epochs")
            break

    for hook in hooks:
        hook.remove()
    net.load_state_dict(best_state)
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
