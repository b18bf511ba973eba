"""What the augmentation does to real training images: a few examples as uint8 RGB arrays.

Plain numpy out (no tensors), so a GUI can turn the results into pictures on its own thread.
"""

from functools import lru_cache

import numpy as np
import timm
import torch

from core.base.cancel import CancelToken, check
from core.base.errors import ImageLoadError
from core.data.dataset import DatasetScan, make_split
from core.data.images import load_rgb
from core.data.items import ImageItem
from core.models.preprocess import Preprocessing, preprocessing_for, train_transform
from core.training.settings import TrainSettings


@lru_cache(maxsize=16)
def _preprocessing(model_name: str, image_size: int | None) -> Preprocessing:
    """The model's preprocessing (cached: building the model only to read its data config is slow)."""
    return preprocessing_for(timm.create_model(model_name, pretrained=False), image_size)


def _spread_over_classes(items: list[ImageItem]) -> list[ImageItem]:
    """Round-robin over classes (first image of each class, then the second ...), deterministic."""
    by_class: dict[int, list[ImageItem]] = {}
    for item in sorted(items, key=lambda i: (i.label, str(i.path))):
        by_class.setdefault(item.label, []).append(item)
    queues = [by_class[label] for label in sorted(by_class)]
    out: list[ImageItem] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out += [q[i] for q in queues if i < len(q)]
    return out


def _to_uint8(x: torch.Tensor, pp: Preprocessing) -> np.ndarray:
    """A normalised CxHxW tensor back to HxWx3 uint8 RGB."""
    mean = torch.tensor(pp.mean, dtype=x.dtype).view(-1, 1, 1)
    std = torch.tensor(pp.std, dtype=x.dtype).view(-1, 1, 1)
    rgb = (x * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    return np.ascontiguousarray(rgb.permute(1, 2, 0).numpy())


def augmentation_examples(scan: DatasetScan, settings: TrainSettings, count: int = 6, seed: int = 0,
                          cancel: CancelToken | None = None) -> list[np.ndarray]:
    """``count`` training images spread over the classes, each passed through the training transform.

    Deterministic for a given ``seed`` (the global torch random state is left untouched). Files that
    cannot be read are skipped; when there are fewer readable images than ``count``, images are reused
    (each use gets its own random augmentation). Returns HxWx3 uint8 RGB arrays at the model's input size.
    """
    if count <= 0:
        return []
    split = make_split(scan, settings.val_fraction, settings.seed)
    candidates = _spread_over_classes(split.train)
    pp = _preprocessing(settings.model_name, settings.image_size)
    transform = train_transform(pp, settings.augmentation, settings.allow_flips, settings.allow_rotation)
    readable = []
    for item in candidates:
        if len(readable) >= count:
            break
        check(cancel)
        try:
            readable.append(load_rgb(item.path))
        except ImageLoadError:
            continue
    if not readable:
        return []
    out = []
    with torch.random.fork_rng(devices=[]):
        for i in range(count):
            check(cancel)
            torch.manual_seed(seed * 1_000_003 + i)
            out.append(_to_uint8(transform(readable[i % len(readable)]), pp))
    return out
