"""Learning-rate range test (Smith 2017; fastai's ``lr_find``): train a throwaway copy of the run for a
few dozen steps with the learning rate growing exponentially, and suggest one from the loss curve.

The network is built exactly as training builds it (core.training.run_setup.build_run: same model, freeze
depth, engine, loss, L2-SP; the first stage of a two-stage run), on the training split only (at
most ``max_images`` images, every class kept), and nothing is written into any run folder. Its steps are the
training loop's own (core.training.trainer.train_epoch: the out-of-memory retry and Cancel come with them);
the sweep only sets the learning rate and reads each step's loss.

Cost: with a frozen backbone (feature extraction, truncated, the head stage of two-stage runs)
the backbone runs once per image (cached on disk, and reused by a training run on the same
images) and the steps train only the classifier: seconds once the features exist. When backbone
layers train, each step is a real training step: ``num_steps`` steps of ``batch_size`` images,
about ``num_steps * batch_size / images_per_s`` seconds at the run's training speed. Measured on a
2-core CPU shared with other jobs (one thread; tf_efficientnet_lite0, 224 px, batch 32, 128
training images): feature extraction 40-70 s the first time (computing the features), 1.6 s
with them cached; fine-tune-top about 6 s and fine-tune-all about 12 s per step, so 80 steps take
8-16 minutes there (a GPU takes seconds). Fewer steps are quicker: 30-100 steps suggested the same
learning rate within 25% on a feature-extraction test set.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from torch.optim.lr_scheduler import LambdaLR

from core.base.cancel import CancelToken, cancel_hooks
from core.base.errors import TransferLabError
from core.base.progress import Progress
from core.data.dataset import DatasetScan, make_split
from core.data.items import ImageItem
from core.models.network import set_train_mode
from core.training.checkpoint import LoopState
from core.training.events import BatchEnd, Prepare, TrainCallback
from core.training.run_setup import build_run
from core.training.settings import TrainSettings
from core.training.trainer import train_epoch

SMOOTHING = 0.98  # exponential moving average of the loss, bias-corrected (as fastai)
DIVERGENCE = 4.0  # stop once the smoothed loss exceeds this multiple of the best one
SANE_RANGE = (1e-6, 1e-1)  # suggestions for AdamW are clipped to this range


@dataclass
class LRFinderResult:
    lrs: list[float]  # the head's learning rate at each step, increasing
    losses: list[float]  # smoothed training loss after each step
    raw_losses: list[float]
    suggestion: float  # for the head; the backbone gets backbone_suggestion (same ratio as the settings)
    backbone_suggestion: float
    reason: str
    stopped_early: bool  # the loss diverged before the last step
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)

    def apply(self, settings: TrainSettings) -> TrainSettings:
        return replace(settings, head_lr=self.suggestion, backbone_lr=self.backbone_suggestion)


def find_learning_rate(scan: DatasetScan, settings: TrainSettings, num_steps: int = 80, start_lr: float = 1e-7,
                       end_lr: float = 1.0, progress: Progress | None = None, cancel: CancelToken | None = None,
                       max_images: int = 512) -> LRFinderResult:
    """Sweep the head learning rate from ``start_lr`` to ``end_lr`` over ``num_steps`` steps (the backbone's
    follows with the settings' ratio); stop early when the loss diverges. Raises Cancelled on cancel."""
    if not 0 < start_lr < end_lr or num_steps < 5:
        raise TransferLabError("The range test needs 0 < start_lr < end_lr and at least 5 steps")
    settings.validate()
    scan.require_trainable()
    started = time.monotonic()
    items = _subsample(make_split(scan, settings.val_fraction, settings.seed).train, max_images, settings.seed)
    run = build_run(settings, scan.classes, items, [], _ProgressCallback(progress, num_steps), cancel)
    ratio = settings.backbone_lr / settings.head_lr
    run.scheduler = LambdaLR(run.optimizer, lambda i: _lr_at(i, num_steps, start_lr, end_lr) / settings.head_lr)
    sweep = _Sweep(progress, num_steps, start_lr, end_lr)
    hooks, state = cancel_hooks(run.net, cancel), LoopState()  # the state keeps an out-of-memory retry's size
    try:
        set_train_mode(run.net)
        for epoch in itertools.count(1):  # the training loop's own pass over the batches, as often as it takes
            before = len(sweep.raw)
            train_epoch(run, state, epoch, sweep, cancel)
            if len(sweep.raw) == before:
                raise TransferLabError("No training image could be read; check the dataset report")
    except _Enough:
        pass
    finally:
        for hook in hooks:
            hook.remove()
    lrs, smooth, raw, diverged = sweep.lrs, sweep.smooth, sweep.raw, sweep.diverged
    suggestion, reason = suggest(lrs, smooth, settings.head_lr)
    return LRFinderResult(lrs, smooth, raw, suggestion, suggestion * ratio, reason, diverged,
                          time.monotonic() - started)


def suggest(lrs: list[float], losses: list[float], fallback: float) -> tuple[float, str]:
    """fastai's "valley": the longest stretch over which the smoothed loss keeps falling, two thirds of
    the way down it; clipped to the swept and a sane range. ``fallback`` when the loss never fell."""
    finite = [i for i, v in enumerate(losses) if math.isfinite(v)]
    low, high = max(lrs[0], SANE_RANGE[0]), min(lrs[finite[-1]] if finite else lrs[0], SANE_RANGE[1])
    clip = lambda lr: min(max(lr, low), max(low, high))  # noqa: E731
    start, end = _valley([losses[i] for i in finite]) if finite else (0, 0)
    if end - start < 3 or losses[finite[end]] >= losses[finite[start]] * 0.98:
        return clip(fallback), (f"The loss did not clearly fall at any learning rate in the sweep; keeping "
                                f"{clip(fallback):.1e}")
    idx = finite[start + (end - start) * 2 // 3]
    lr = clip(lrs[idx])
    return lr, (f"The loss falls steadily from {lrs[finite[start]]:.1e} to {lrs[finite[end]]:.1e}; "
                f"{lr:.1e} is two thirds of the way down that valley")


def _valley(losses: list[float]) -> tuple[int, int]:
    """Start and end of the longest decreasing subsequence of ``losses`` (fastai's valley)."""
    longest = [1] * len(losses)
    start = end = 0
    for i in range(1, len(losses)):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
        if longest[i] > longest[end]:
            end = i
            start = end - longest[end] + 1
    return start, end


def _lr_at(step: int, steps: int, start_lr: float, end_lr: float) -> float:
    return start_lr * (end_lr / start_lr) ** (min(step, steps - 1) / (steps - 1))


def _subsample(items: list[ImageItem], limit: int, seed: int) -> list[ImageItem]:
    """At most ``limit`` items, each class keeping its share (and at least one image)."""
    if len(items) <= limit:
        return list(items)
    rng = random.Random(seed)
    by_class: dict[int, list[ImageItem]] = {}
    for item in items:
        by_class.setdefault(item.label, []).append(item)
    chosen = []
    for label in sorted(by_class):
        group = by_class[label]
        chosen += rng.sample(group, max(1, len(group) * limit // len(items)))
    return sorted(chosen, key=lambda i: (i.label, str(i.path)))


class _Enough(Exception):
    """The sweep has its steps, or its loss diverged."""


class _ProgressCallback(TrainCallback):
    def __init__(self, progress: Progress | None, steps: int) -> None:
        self.progress, self.steps = progress, steps

    def on_status(self, message: str) -> None:
        if self.progress:
            self.progress(0, self.steps, message)

    def on_prepare(self, event: Prepare) -> None:
        if self.progress:
            self.progress(event.done, event.total, event.stage)


class _Sweep(_ProgressCallback):
    """Each step's learning rate and loss, smoothed as fastai does; stops the pass after ``steps`` steps or once
    the loss diverges."""

    def __init__(self, progress: Progress | None, steps: int, start_lr: float, end_lr: float) -> None:
        super().__init__(progress, steps)
        self.start_lr, self.end_lr = start_lr, end_lr
        self.lrs: list[float] = []
        self.raw: list[float] = []
        self.smooth: list[float] = []
        self.average, self.best, self.diverged = 0.0, math.inf, False

    def on_batch_end(self, event: BatchEnd) -> None:
        step = len(self.raw)
        self.lrs.append(_lr_at(step, self.steps, self.start_lr, self.end_lr))  # the rate this step used
        self.average = SMOOTHING * self.average + (1 - SMOOTHING) * event.loss
        smoothed = self.average / (1 - SMOOTHING ** (step + 1))
        self.raw.append(event.loss)
        self.smooth.append(smoothed)
        self.best = min(self.best, smoothed)
        if self.progress:
            self.progress(step + 1, self.steps, f"Trying learning rate {self.lrs[-1]:.1e}: loss {smoothed:.3f}")
        if not math.isfinite(event.loss) or smoothed > DIVERGENCE * self.best:
            self.diverged = step + 1 < self.steps
            raise _Enough
        if step + 1 >= self.steps:
            raise _Enough
