"""Where a run's training batches come from, and which part of the network they go through.

* :class:`PlainEngine` — the reference: every epoch decodes every file and runs the whole
  network (fp32, NCHW). Used when speed-ups are off.
* :class:`DecodedEngine` — fine-tuning: images decoded and resized once (core.training.decode_cache),
  augmented per epoch as uint8, normalised per batch on the device.
* :class:`CachedEngine` — the frozen part runs once per image (per view) and its output is
  cached (core.training.feature_cache): pooled features when only the head trains, the activations at
  the freeze boundary when the top of the network trains without augmentation. Each epoch
  then runs only the head, or only the trainable top.

All engines share one batch order: the sampler a shuffled ``DataLoader`` with the same seed uses.
In a distributed run (core.training.distributed) every rank draws that same global order and takes its
strided slice of each batch; validation images are split between the ranks the same way.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import BatchSampler, RandomSampler, Sampler

from core.base.cancel import CancelToken
from core.base.fingerprint import dict_fingerprint, files_fingerprint
from core.base.progress import Progress, saying
from core.data.augmentation import FEATURE_VIEWS
from core.data.loading import make_loader
from core.models.accel import ComputePlan
from core.models.network import TransferNet, final_and_level
from core.models.preprocess import (Preprocessing, cached_eval_crop, cached_train_crop, eval_transform, normalize_batch,
                                    resize_size, train_cache_size, train_transform)
from core.training.decode_cache import DecodedImages
from core.training.distributed import shard
from core.training.feature_cache import FoldOnce, TensorSet, compute_or_load
from core.training.settings import TrainSettings

Files = Sequence[tuple[Path, int]]
Batch = tuple[torch.Tensor, torch.Tensor]



@dataclass
class Engine:
    """Subclasses also set ``plan``: the precision and memory format of their training steps."""

    module: nn.Module  # what a batch goes through to give logits
    num_train: int
    num_val: int
    batch_size: int
    seed: int
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The last, partial batch is dropped once there is more than one batch (as fastai does): a
        # batch of one or two images gives BatchNorm useless statistics. Shuffling changes which
        # images wait for the next epoch.
        self.sampler_generator = torch.Generator().manual_seed(self.seed)  # checkpointed, for exact resumes
        self._sampler = BatchSampler(RandomSampler(range(self.num_train), generator=self.sampler_generator),
                                     self.batch_size, drop_last=self.num_train > self.batch_size)
        self.rank, self.world = shard()
        self.local_sampler = LocalBatches(self._sampler, self.rank, self.world)

    @property
    def batches_per_epoch(self) -> int:
        return len(self._sampler)

    @property
    def description(self) -> str:
        return str(self.details.get("summary", ""))

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        raise NotImplementedError

    def val_batches(self) -> Iterator[Batch]:
        raise NotImplementedError


class LocalBatches(Sampler):
    """This rank's strided slice of each global batch (all of it for a single process)."""

    def __init__(self, batches: BatchSampler, rank: int, world: int) -> None:
        self.batches, self.rank, self.world = batches, rank, world

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        for indices in self.batches:
            yield indices[self.rank::self.world]


def local_range(n: int, batch_size: int) -> Iterator[list[int]]:
    """This rank's share of ``range(n)`` (strided), in batches: how validation is split between ranks."""
    rank, world = shard()
    mine = list(range(rank, n, world))
    for start in range(0, len(mine), batch_size):
        yield mine[start:start + batch_size]


class PlainEngine(Engine):
    def __init__(self, net: TransferNet, train_files: Files, val_files: Files, pp: Preprocessing,
                 settings: TrainSettings, plan: ComputePlan) -> None:
        super().__init__(net, len(train_files), len(val_files), settings.batch_size, settings.seed,
                         {"summary": "plain: every image decoded and the whole network run each epoch"})
        self.plan = plan
        # Worker processes re-import the app; a frozen (PyInstaller) app cannot spawn them safely.
        workers = 0 if getattr(sys, "frozen", False) else settings.num_workers
        self.train_loader = make_loader(train_files, train_transform(pp, settings.augmentation, settings.allow_flips,
                                                                     settings.allow_rotation),
                                        settings.batch_size, seed=settings.seed + 1, num_workers=workers,
                                        pin_memory=plan.pin_memory, batch_sampler=self.local_sampler)
        rank, world = shard()
        self.val_loader = make_loader(list(val_files)[rank::world], eval_transform(pp), settings.batch_size,
                                      num_workers=workers, pin_memory=plan.pin_memory)

    def _batches(self, loader) -> Iterator[Batch]:
        for batch in loader:
            if batch is not None:
                x, y, _ = batch
                yield self.plan.to_device(x), y.to(self.plan.device)

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        return self._batches(self.train_loader)

    def val_batches(self) -> Iterator[Batch]:
        return self._batches(self.val_loader)


class DecodedEngine(Engine):
    def __init__(self, net: TransferNet, train_files: Files, val_files: Files, pp: Preprocessing,
                 settings: TrainSettings, plan: ComputePlan, budget_bytes: int, cancel: CancelToken | None,
                 progress: Progress, images: str = "training images") -> None:
        self.plan, self.pp = plan, pp
        share = budget_bytes * len(train_files) // max(1, len(train_files) + len(val_files))
        self.train_images = DecodedImages([f for f, _ in train_files], train_cache_size(pp, settings.augmentation),
                                          pp, share, cancel=cancel,
                                          progress=saying(progress, f"Decoding the {images} (once)"))
        rank, world = shard()
        val_files = list(val_files)[rank::world]  # this rank's share of the validation images
        self.val_images = DecodedImages([f for f, _ in val_files], resize_size(pp), pp, budget_bytes - share,
                                        cancel=cancel,
                                        progress=saying(progress, "Decoding the validation images (once)"))
        self.train_labels = [y for _, y in train_files]
        self.val_labels = [y for _, y in val_files]
        self.train_crop = cached_train_crop(pp, settings.augmentation, settings.allow_flips, settings.allow_rotation)
        self.eval_crop = cached_eval_crop(pp)
        streamed = self.train_images.streamed + self.val_images.streamed
        mib = (self.train_images.bytes + self.val_images.bytes) / 2**20
        summary = f"images decoded once ({_mib(mib)} in memory" + \
                  (f", {streamed} re-read each epoch: over the memory budget)" if streamed else ")")
        super().__init__(net, len(train_files), len(val_files), settings.batch_size, settings.seed,
                         {"summary": summary, "decoded_mib": round(mib, 1), "streamed": streamed})

    def _batch(self, images: DecodedImages, labels: list[int], indices, crop) -> Batch | None:
        pairs = [(crop(image), labels[i]) for i, image in zip(indices, images.iter_images(indices))
                 if image is not None]
        if not pairs:
            return None
        x = normalize_batch(self.plan.to_device(torch.stack([p[0] for p in pairs])), self.pp)
        return x, torch.tensor([p[1] for p in pairs], dtype=torch.long, device=self.plan.device)

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        for indices in self.local_sampler:
            batch = self._batch(self.train_images, self.train_labels, indices, self.train_crop)
            if batch is not None:
                yield batch

    def val_batches(self) -> Iterator[Batch]:
        for start in range(0, self.num_val, self.batch_size):
            indices = range(start, min(start + self.batch_size, self.num_val))
            batch = self._batch(self.val_images, self.val_labels, indices, self.eval_crop)
            if batch is not None:
                yield batch


class CachedEngine(Engine):
    def __init__(self, module: nn.Module, train: TensorSet, val: TensorSet, settings: TrainSettings,
                 plan: ComputePlan, details: dict) -> None:
        self.plan, self.train, self.val = plan, train, val
        super().__init__(module, len(train), len(val), settings.batch_size, settings.seed, details)

    def _rows(self, tensors: TensorSet, view: int, indices) -> Batch:
        x = self.plan.to_device(tensors.rows(view, indices))
        return x, tensors.labels[list(indices)].to(self.plan.device)

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        for indices in self.local_sampler:
            yield self._rows(self.train, epoch - 1, indices)

    def val_batches(self) -> Iterator[Batch]:
        for indices in local_range(self.num_val, self.batch_size):
            yield self._rows(self.val, 0, indices)


def _mib(mib: float) -> str:
    return "under 1 MiB" if mib < 1 else f"{mib:.0f} MiB"


class FeatureEncoder(nn.Module):
    """The frozen network up to its pooled features (``TransferNet.features``)."""

    def __init__(self, net: TransferNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


class LevelsEncoder(nn.Module):
    """The frozen network's pooled final features (as :class:`FeatureEncoder`) followed by the pooled
    features of the earlier level ``cut`` (as a network cut there gives them), from one forward pass: the
    earlier level is on the way to the final one. ``net`` must not be cut."""

    def __init__(self, net: TransferNet, cut: int) -> None:
        super().__init__()
        self.net, self.cut = net, cut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return final_and_level(self.net.backbone, x, self.cut)


def cache_views(pp: Preprocessing, settings: TrainSettings) -> list[Callable]:
    """The views cached per training image: the evaluation crop, or a few augmented crops."""
    if settings.augmentation == "none" or settings.lp_ft:  # LP-FT's classifier: fitted on the evaluation crop
        return [cached_eval_crop(pp)]
    crop = cached_train_crop(pp, settings.augmentation, settings.allow_flips, settings.allow_rotation)
    if settings.classifier_fit == "converged":  # one fit sees every view at once
        return [crop] * FEATURE_VIEWS
    return [crop] * min(FEATURE_VIEWS, settings.epochs)


def _files_key(files: Files) -> dict:
    return {"files": files_fingerprint(f for f, _ in files), "labels": dict_fingerprint({"y": [y for _, y in files]})}


def images_key(files: Files, split: str, settings: TrainSettings, views: int) -> dict:
    """The images' part of a cache key: which files with which labels, and their views (validation images:
    the evaluation crop alone)."""
    augmentation = "none" if settings.lp_ft or split == "val" else settings.augmentation  # as cache_views
    return {**_files_key(files), "split": split, "views": views,
            "augmentation": [settings.augmentation, settings.allow_flips, settings.allow_rotation, settings.seed]
            if augmentation != "none" else "none"}


def cached_engine(net: TransferNet, encoder: nn.Module, module: nn.Module, kind: str, key: dict,
                  train_files: Files, val_files: Files, pp: Preprocessing, settings: TrainSettings,
                  plan: ComputePlan, budget_bytes: int, cancel: CancelToken | None, progress: Progress,
                  images: str = "training images", companions: Sequence[tuple[dict, int]] = ()) -> CachedEngine:
    """``companions``: (key, width) of further outputs of ``encoder`` (core.training.feature_cache), cached
    for a later run on the same images."""
    views = cache_views(pp, settings)
    augmentation = "none" if settings.lp_ft else settings.augmentation  # as cache_views
    # Cached outputs are computed in fp32 (core.models.accel's precision rule): they are what validation and
    # the classifier see, and a prediction later runs the same frozen layers in fp32.
    common = dict(encoder=FoldOnce(encoder), pp=pp, plan=plan.evaluation, batch_size=max(settings.batch_size, 32),
                  budget_bytes=budget_bytes // 2, cancel=cancel)
    what = "features" if kind == "features" else "outputs of the frozen layers"
    train_part = images_key(train_files, "train", settings, len(views))
    val_part = images_key(val_files, "val", settings, 1)
    train = compute_or_load({**key, **train_part}, train_files, views=views,
                            decode_size=train_cache_size(pp, augmentation),
                            progress=saying(progress, f"Computing the {what} of the {images} "
                                                      f"({len(views)} view{'s' if len(views) > 1 else ''})"),
                            companions=[({**k, **train_part}, w) for k, w in companions], **common)
    val = compute_or_load({**key, **val_part}, val_files, views=[cached_eval_crop(pp)], decode_size=resize_size(pp),
                          progress=saying(progress, f"Computing the {what} of the validation images"),
                          companions=[({**k, **val_part}, w) for k, w in companions], **common)
    reused = train.from_disk and val.from_disk
    mib = (train.nbytes + val.nbytes) / 2**20
    summary = (f"{what} computed once ({len(views)} view{'s' if len(views) > 1 else ''} per training image, "
               f"{_mib(mib)}{', reused from an earlier run' if reused else ''}); each epoch trains only "
               f"{'the classifier' if kind == 'features' else 'the layers that are trained'}")
    details = {"summary": summary, "cache": kind, "views": len(views), "cache_mib": round(mib, 1),
               "reused": reused, "unreadable": (len(train_files) - len(train)) + (len(val_files) - len(val))}
    # Only the classifier trains on cached features: nothing for mixed precision to speed up.
    return CachedEngine(module, train, val, settings, plan.evaluation if kind == "features" else plan, details)
