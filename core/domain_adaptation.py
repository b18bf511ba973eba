"""Domain-adversarial training (DANN, Ganin et al., JMLR 2016) with a folder of unlabeled target images.

The label head learns from the labelled source images only. A small domain classifier sits on the
backbone's pooled features behind a gradient reversal layer: it learns to tell source from target
features, while the reversed gradient teaches the trainable backbone layers features it cannot tell
apart. Source and target batches go through the network one after the other (as common DANN
implementations do), so BatchNorm layers that train normalise each domain by its own batch statistics
while training; their running statistics, used for predicting, average the two. The reversal strength
ramps up as in the paper, ``domain_weight * (2 / (1 + exp(-10 p)) - 1)`` with ``p`` the share of
training done, and the model of the last epoch is kept (source validation accuracy cannot tell how
well it does on the target).

The run is built like any training run (core.run_setup) and saved as a normal model bundle with an
extra ``adaptation`` section, so predicting, evaluating and exporting work on it unchanged. DANN runs
write no checkpoint, so they cannot be resumed: an interrupted run is started again.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from core import runs
from core.bundle import load_bundle, save_bundle
from core.cancel import CancelToken, cancel_hooks, check
from core.dataset import DatasetScan, _probe_all, _walk_files, make_split
from core.errors import Cancelled, DatasetError, TransferLabError
from core.events import BatchEnd, EpochEnd, FitStart, Prepare, TrainCallback
from core.network import layer_groups, set_train_mode, trainable_state
from core.run_setup import Run, build_optimizer, build_run, make_engine
from core.schedule import warmup_cosine
from core.settings import TrainSettings, strategy_settings
from core.trainer import TrainResult, _finish, _now, _Progress, _validate, check_run_dir
from core.trunk import TrainableTop
from core.weights import create_backbone

METHOD = "DANN"
DEFAULT_DOMAIN_WEIGHT = 1.0
DOMAIN_HIDDEN = 256  # units of the domain classifier's hidden layer
FEW_TARGET_IMAGES = 20


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by ``-lam`` on the way back."""
    return _GradReverse.apply(x, lam)


def reversal_strength(progress: float, domain_weight: float) -> float:
    """The paper's schedule: 0 at the start, approaching ``domain_weight`` as ``progress`` reaches 1."""
    return domain_weight * (2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0)


class DomainHead(nn.Module):
    """Source (0) or target (1) from pooled features: one hidden layer, one logit."""

    def __init__(self, dim: int, hidden: int = DOMAIN_HIDDEN) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.5), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features).squeeze(1)


@dataclass
class AdaptResult(TrainResult):
    target_images: int = 0
    domain_accuracy: list[float] = field(default_factory=list)  # per epoch, on the training batches
    target_test_accuracy: float | None = None
    notes: list[str] = field(default_factory=list)


def scan_target_folder(folder: Path, cancel: CancelToken | None = None) -> list[Path]:
    """The readable images anywhere under ``folder`` (core's image checks); a DatasetError if there are none."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise DatasetError(f"The target image folder {folder} does not exist or is not a folder")
    skipped: list = []
    candidates = _walk_files(folder, skipped, cancel)
    if not candidates:
        raise DatasetError(f"The target image folder {folder} holds no images (looked for "
                           "jpg, png, bmp, tif, webp and gif files in it and its subfolders)")
    probed = _probe_all(candidates, None, cancel)
    good = [p for p, (reason, _) in zip(candidates, probed) if reason is None]
    if not good:
        reason = next(r for r, _ in probed if r)
        raise DatasetError(f"None of the {len(candidates)} image files in the target folder {folder} can be "
                           f"used (e.g. {candidates[0].name}: {reason})")
    return good


def adaptable_settings(settings: TrainSettings) -> tuple[TrainSettings, list[str]]:
    """Settings DANN can run with, and what was changed: a frozen backbone becomes fine-tune-top (the
    adaptation has to change the features), and two-stage fine-tuning becomes one stage (a head-only
    stage cannot adapt anything). L2-SP, if set, applies as in plain fine-tuning."""
    notes = []
    if settings.freeze_depth < 1 or settings.strategy in ("feature-extraction", "truncated"):
        groups = len(layer_groups(create_backbone(settings.model_name, weights="none").model))
        depth = strategy_settings("fine-tune-top", groups, None)["freeze_depth"]
        notes.append(f"Domain adaptation has to change the backbone's features, so it fine-tunes the top {depth} "
                     f"of {groups} layer groups instead of '{settings.strategy}' with a frozen backbone")
        settings = replace(settings, strategy="fine-tune-top", freeze_depth=depth, cut_index=None)
    if getattr(settings, "two_stage", False):
        notes.append("Domain adaptation trains the head and the backbone layers together from the first epoch "
                     "(two-stage fine-tuning is off for it)")
        settings = replace(settings, two_stage=False, gradual_unfreeze=False)
    return settings, notes


def train_adapted(scan: DatasetScan, target_folder: Path, settings: TrainSettings, run_dir: Path,
                  callback: TrainCallback | None = None, cancel: CancelToken | None = None,
                  target_test_scan: DatasetScan | None = None, overwrite: bool = False,
                  domain_weight: float | None = None) -> AdaptResult:
    """Train on ``scan`` while adapting to the unlabeled images in ``target_folder``; save a bundle in ``run_dir``.

    ``domain_weight`` (default ``settings.extra["domain_weight"]``, else 1.0) scales the reversed gradient.
    With ``target_test_scan`` (labelled target images), the saved model's accuracy on it is reported.
    """
    cb = callback or TrainCallback()
    weight = float(domain_weight if domain_weight is not None
                   else settings.extra.get("domain_weight", DEFAULT_DOMAIN_WEIGHT))
    if not 0 <= weight <= 10:
        raise TransferLabError(f"The domain weight must be between 0 and 10 (got {weight})")
    settings.validate()
    scan.require_trainable()
    run_dir, target_folder = Path(run_dir), Path(target_folder).expanduser().resolve()
    check_run_dir(run_dir, scan.root, overwrite)
    check_run_dir(run_dir, target_folder, overwrite)
    target = scan_target_folder(target_folder, cancel)
    if set(target) & {i.path.resolve() for i in scan.all_items()}:
        raise DatasetError(f"The target folder {target_folder} holds images of the labelled dataset; choose a "
                           "folder with images from the new setting only")
    if target_test_scan is not None:
        _check_target_test(target_test_scan, scan)
    settings, notes = adaptable_settings(settings)
    if len(target) < FEW_TARGET_IMAGES:
        notes.append(f"Only {len(target)} target images: domain adaptation works best with a few hundred")
    if settings.early_stopping_patience:
        notes.append("Early stopping is off for domain adaptation: the adaptation is strongest at the end")
    for message in notes:
        cb.on_status(message)
    split = make_split(scan, settings.val_fraction, settings.seed)
    adaptation = {"method": METHOD, "target_folder": str(target_folder), "target_images": len(target),
                  "domain_weight": weight}
    record = {"status": runs.RUNNING, "dataset_root": str(scan.root), "classes": list(scan.classes),
              "settings": settings.to_dict(), "split": {"train": runs.relative_items(split.train, scan.root),
                                                        "val": runs.relative_items(split.val, scan.root)},
              "dataset": scan.summary(), "checkpoint_epoch": 0, "adaptation": adaptation, "created": _now()}
    with runs.RunLock(run_dir):
        (run_dir / runs.CHECKPOINT_FILE).unlink(missing_ok=True)  # an older run's checkpoint must not be resumed
        runs.write_record(run_dir, record)
        try:
            run = build_run(settings, scan.classes, split.train, split.val, cb, cancel)
            result = _fit(run, run_dir, record, target, weight, cb, cancel)
            result.target_test_accuracy = _describe_adaptation(run_dir, {**adaptation, "domain_accuracy": list(
                result.domain_accuracy)}, target_test_scan, settings.device, cb, cancel)
        except Cancelled:
            runs.set_status(run_dir, runs.CANCELLED)
            raise
        except BaseException as exc:
            runs.set_status(run_dir, runs.FAILED, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
        runs.set_status(run_dir, runs.FINISHED)
    result.notes = notes
    return result


def _check_target_test(test: DatasetScan, scan: DatasetScan) -> None:
    """Before training: labelled target images must exist and use the source dataset's class names."""
    unknown = [c for c in test.classes if c not in scan.classes]
    if unknown:
        raise DatasetError(f"The labelled target images in {test.root} have classes the labelled dataset does not: "
                           f"{', '.join(unknown)} (it has: {', '.join(scan.classes)})")
    if not test.all_items():
        raise DatasetError(f"There are no usable labelled target images in {test.root}")


class _TargetProgress(TrainCallback):
    """Forwards preparation progress of the target images, named as such."""

    def __init__(self, cb: TrainCallback) -> None:
        self.cb = cb

    def on_prepare(self, event: Prepare) -> None:
        self.cb.on_prepare(replace(event, stage=event.stage.replace("training images", "target images")))


def _cycle(batches: Callable[[int], Iterator]) -> Iterator[torch.Tensor]:
    """Target image batches without end (a new shuffled pass each time one ends); labels dropped."""
    rounds = 0
    while True:
        rounds += 1
        empty = True
        for x, _ in batches(rounds):
            empty = False
            yield x
        if empty:
            raise TransferLabError("No target image could be read")


def _features_of(module: nn.Module, run: Run) -> Callable[[torch.Tensor], torch.Tensor]:
    """Pooled features from what the engine feeds: images, or activations at the freeze boundary."""
    if isinstance(module, TrainableTop):
        def top(h: torch.Tensor) -> torch.Tensor:
            for layer in module.layers:
                h = layer(h)
            return run.net.backbone.forward_head(h)
        return top
    return run.net.features


def _fit(run: Run, run_dir: Path, record: dict, target: list[Path], weight: float, cb: TrainCallback,
         cancel: CancelToken | None) -> AdaptResult:
    settings, engine, net = run.settings, run.engine, run.net
    if not any(p.requires_grad for p in net.backbone.parameters()):
        raise TransferLabError("Domain adaptation needs a backbone that trains; choose a fine-tuning strategy")
    target_engine = make_engine(net, run.pp, replace(settings, seed=settings.seed + 1), run.plan,
                                [(p, 0) for p in target], [], _TargetProgress(cb), cancel)
    domain = run.plan.prepare_module(DomainHead(net.head.in_features))
    run.optimizer = build_optimizer(net, settings)
    run.optimizer.add_param_group({"params": list(domain.parameters()), "lr": settings.head_lr,
                                   "weight_decay": settings.weight_decay, "name": "domain"})
    steps = engine.batches_per_epoch * settings.epochs
    run.scheduler = warmup_cosine(run.optimizer, steps, int(settings.warmup_fraction * steps))
    features = _features_of(engine.module, run)
    targets = _cycle(target_engine.train_batches)
    hooks = cancel_hooks(net, cancel)
    batches = engine.batches_per_epoch
    cb.on_fit_start(FitStart(settings.epochs, batches, len(run.train_items), len(run.val_items), run.device_name,
                             run.freeze.trainable_params, run.freeze.total_params, run.loaded.source,
                             f"{engine.description}; domain-adversarial (DANN) with {len(target)} target images",
                             run.plan.describe()))
    progress, domain_accuracy, started = _Progress(), [], time.monotonic()
    try:
        for epoch in range(1, settings.epochs + 1):
            epoch_start, t0 = time.monotonic(), time.monotonic()
            set_train_mode(net)
            domain.train()
            seen = correct = domain_seen = domain_correct = 0
            loss_sum = 0.0
            for b, (xs, ys) in enumerate(engine.train_batches(epoch), 1):
                check(cancel)
                lam = reversal_strength(((epoch - 1) * batches + b - 1) / steps, weight)
                loss, hits, d_hits, d_seen = _step(run, domain, features, xs, ys, next(targets), lam)
                n = len(ys)
                seen, correct, loss_sum = seen + n, correct + hits, loss_sum + loss * n
                domain_seen, domain_correct = domain_seen + d_seen, domain_correct + d_hits
                now = time.monotonic()
                cb.on_batch_end(BatchEnd(epoch, b, batches, loss, hits / n, n / max(1e-9, now - t0),
                                         run.optimizer.param_groups[0]["lr"]))
                t0 = now
            if seen == 0:
                raise TransferLabError("No training image could be read; check the dataset report")
            val_loss, val_accuracy = _validate(run, cancel, None)
            entry = EpochEnd(epoch, settings.epochs, loss_sum / seen, correct / seen, val_loss, val_accuracy,
                             time.monotonic() - epoch_start, (time.monotonic() - started) / epoch *
                             (settings.epochs - epoch), is_best=epoch == settings.epochs)  # the last one is kept
            domain_accuracy.append(domain_correct / domain_seen)
            extras = {} if run.regularizer is None else {"l2sp_distance": run.regularizer.distance()}
            progress.history.append({**entry.to_dict(), "domain_accuracy": domain_accuracy[-1],
                                     "reversal_strength": lam, **extras})
            cb.on_epoch_end(entry)
            cb.on_status(f"Epoch {epoch}: the domain classifier told source from target images apart "
                         f"{domain_accuracy[-1]:.0%} of the time on this epoch's batches (50% = chance)")
    finally:
        for hook in hooks:
            hook.remove()
    progress.best = {"epoch": settings.epochs, "val_accuracy": val_accuracy, "val_loss": val_loss}
    progress.best_state = trainable_state(net)
    result = _finish(run, run_dir, record, progress, False, cb)
    return AdaptResult(**vars(result), target_images=len(target), domain_accuracy=domain_accuracy)


def _step(run: Run, domain: DomainHead, features: Callable, xs: torch.Tensor, ys: torch.Tensor,
          xt: torch.Tensor, lam: float) -> tuple[float, int, int, int]:
    """One optimiser step on a source and a target batch: label loss + domain loss through the reversal."""
    run.optimizer.zero_grad(set_to_none=True)
    n = len(ys)
    is_target = torch.cat([torch.zeros(n), torch.ones(len(xt))]).to(ys.device)
    with run.plan.autocast():
        source, target = features(xs), features(xt)  # apart: each domain's own statistics in BatchNorm
        logits = run.net.head(source)
        d_logits = domain(grad_reverse(torch.cat([source, target]), lam))
    label_loss = run.loss_fn(logits.float(), ys)
    loss = label_loss + nn.functional.binary_cross_entropy_with_logits(d_logits.float(), is_target)
    if run.regularizer is not None:  # L2-SP
        loss = loss + run.regularizer.penalty()
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        loss.backward()
        run.optimizer.step()
    run.scheduler.step()
    d_hits = int(((d_logits > 0).float() == is_target).sum().item())
    return label_loss.item(), int((logits.argmax(1) == ys).sum().item()), d_hits, len(is_target)


def _describe_adaptation(run_dir: Path, adaptation: dict, target_test: DatasetScan | None, device: str,
                         cb: TrainCallback, cancel: CancelToken | None) -> float | None:
    """Add the ``adaptation`` section to the saved bundle, with the accuracy on labelled target images if given."""
    bundle = load_bundle(run_dir)
    accuracy = None
    if target_test is not None:
        from core.predict import evaluate
        report = evaluate(bundle, target_test, device=device, cancel=cancel)
        accuracy = float(report["accuracy"])
        adaptation["target_test"] = {"folder": str(target_test.root), "accuracy": accuracy,
                                     "images": report["num_images"]}
        cb.on_status(f"Accuracy on the labelled target images in {target_test.root}: {accuracy:.1%}")
    save_bundle(run_dir, bundle.net, {**bundle.meta, "adaptation": adaptation})
    return accuracy
