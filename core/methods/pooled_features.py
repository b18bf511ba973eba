"""Pooled features of a frozen backbone on a small, stratified, seeded sample of a dataset.

Shared by model ranking (core.methods.ranking) and layer probing (core.methods.probe): one forward pass per
image gives the final pre-logits features and, if asked, the global-average-pooled activations
of any of the backbone's cut levels (core.models.network.cut_levels).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from core.base.cancel import CancelToken, cancel_hooks, check
from core.base.progress import Progress, report
from core.data.dataset import DatasetScan
from core.data.items import ImageItem
from core.data.loading import make_loader
from core.models.preprocess import Preprocessing, eval_transform

MIN_PER_CLASS = 2


@dataclass
class PooledFeatures:
    final: np.ndarray  # (n, num_features): what a linear head on the whole backbone would see
    levels: list[np.ndarray]  # one (n, channels) array per requested cut level
    labels: np.ndarray  # (n,) class indices
    seconds: float  # time spent in the network's forward passes (decoding excluded)

    @property
    def images(self) -> int:
        return int(len(self.labels))


def training_items(scan: DatasetScan, val_fraction: float = 0.2, seed: int = 0) -> list[ImageItem]:
    """The images a run with these split settings (the defaults: TrainSettings') trains on: choosing a
    model or a cut on them keeps the validation images unseen, so validation accuracy stays honest."""
    from core.data.dataset import make_split
    return make_split(scan, val_fraction, seed).train


def labelled_items(scan: DatasetScan) -> list[ImageItem]:
    """Every labelled image except a pre-split dataset's test folder, which stays untouched."""
    return [item for split, items in scan.items.items() if split != "test" for item in items]


def stratified_sample(items: Sequence[ImageItem], max_images: int, seed: int = 0) -> list[ImageItem]:
    """At most ``max_images`` items (but at least 2 per class where a class has them), shared as
    evenly as possible between classes; which ones is seeded. Ordered by class, then path."""
    by_class: dict[int, list[ImageItem]] = {}
    for item in sorted(items, key=lambda i: str(i.path)):
        by_class.setdefault(item.label, []).append(item)
    quota = {c: min(MIN_PER_CLASS, len(group)) for c, group in by_class.items()}
    left = max_images - sum(quota.values())
    while left > 0:
        open_classes = [c for c in sorted(by_class) if quota[c] < len(by_class[c])]
        if not open_classes:
            break
        share = max(1, left // len(open_classes))
        for c in open_classes:
            extra = min(share, len(by_class[c]) - quota[c], left)
            quota[c] += extra
            left -= extra
    rng = random.Random(seed)
    chosen: list[ImageItem] = []
    for c in sorted(by_class):
        group = list(by_class[c])
        rng.shuffle(group)
        chosen.extend(sorted(group[:quota[c]], key=lambda i: str(i.path)))
    return chosen


def pool(activation: torch.Tensor) -> torch.Tensor:
    """Global average: over height and width (N, C, H, W), or over tokens (N, T, C)."""
    return activation.mean(dim=(2, 3)) if activation.ndim == 4 else activation.mean(dim=1)


@torch.inference_mode()
def extract(model: nn.Module, items: Sequence[ImageItem], pp: Preprocessing, levels: Sequence[int] = (),
            device: torch.device | None = None, batch_size: int = 16, progress: Progress | None = None,
            cancel: CancelToken | None = None) -> PooledFeatures:
    """Run the frozen ``model`` (a timm model with its ImageNet head) once per readable image of
    ``items`` with its evaluation preprocessing ``pp``; unreadable images are left out."""
    device = device or torch.device("cpu")
    was_training = model.training
    model.eval().to(device)
    hooks = cancel_hooks(model, cancel)
    loader = make_loader([(i.path, i.label) for i in items], eval_transform(pp), batch_size=batch_size)
    finals: list[np.ndarray] = []
    per_level: list[list[np.ndarray]] = [[] for _ in levels]
    labels: list[np.ndarray] = []
    seconds, done = 0.0, 0
    try:
        for batch in loader:
            check(cancel)
            if batch is None:
                continue
            x, y, _ = batch
            start = time.perf_counter()
            x = x.to(device)
            if levels:
                last, inters = model.forward_intermediates(x, indices=list(levels), norm=False)
            else:
                last, inters = model.forward_features(x), []
            final = model.forward_head(last, pre_logits=True)
            if final.ndim > 2:  # a head without pooling
                final = pool(final)
            finals.append(final.float().cpu().numpy())
            for store, activation in zip(per_level, inters):
                store.append(pool(activation).float().cpu().numpy())
            seconds += time.perf_counter() - start
            labels.append(y.numpy())
            done += len(y)
            report(progress, done, len(items))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    if not labels:
        return PooledFeatures(np.empty((0, 0), np.float32), [np.empty((0, 0), np.float32) for _ in levels],
                              np.empty(0, np.int64), seconds)
    return PooledFeatures(np.concatenate(finals), [np.concatenate(s) for s in per_level], np.concatenate(labels),
                          seconds)
