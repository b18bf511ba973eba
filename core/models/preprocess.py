"""Preprocessing from the model's own data config, and augmentation presets."""

from dataclasses import asdict, dataclass

import timm
import torch
from torch import nn
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from core.data.augmentation import PRESETS, AugmentationPreset, preset_named  # noqa: F401  (re-exported)

_INTERPOLATION = {"bicubic": InterpolationMode.BICUBIC, "bilinear": InterpolationMode.BILINEAR,
                  "nearest": InterpolationMode.NEAREST}


@dataclass(frozen=True)
class Preprocessing:
    input_size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(int(d["input_size"]), str(d["interpolation"]), tuple(d["mean"]), tuple(d["std"]),
                   float(d["crop_pct"]))


def preprocessing_for(model: nn.Module, image_size: int | None = None) -> Preprocessing:
    """timm's data config for ``model``; ``image_size`` overrides the input size where the model allows it."""
    cfg = timm.data.resolve_model_data_config(model)
    size = int(cfg["input_size"][-1])
    if image_size and not model.pretrained_cfg.get("fixed_input_size", False):
        size = int(image_size)
    return Preprocessing(size, cfg.get("interpolation", "bicubic"), tuple(cfg["mean"]), tuple(cfg["std"]),
                         float(cfg.get("crop_pct", 0.875)))


def interpolation_mode(name: str) -> InterpolationMode:
    return _INTERPOLATION.get(name, InterpolationMode.BICUBIC)


def resize_size(pp: Preprocessing) -> int:
    """The short side images are resized to before the centre crop (input size / crop_pct)."""
    return int(round(pp.input_size / pp.crop_pct))


def _to_tensor(pp: Preprocessing) -> list:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(pp.mean, pp.std)]


def eval_transform(pp: Preprocessing) -> v2.Compose:
    """Deterministic: resize the short side to size / crop_pct, centre crop, normalise."""
    return v2.Compose([v2.Resize(resize_size(pp), interpolation=interpolation_mode(pp.interpolation),
                                 antialias=True), v2.CenterCrop(pp.input_size), *_to_tensor(pp)])


def normalize_batch(x: torch.Tensor, pp: Preprocessing) -> torch.Tensor:
    """uint8 batch (N, C, H, W) -> normalised float32, with the very operations of the per-image path."""
    return F.normalize(F.to_dtype(x, torch.float32, scale=True), list(pp.mean), list(pp.std))


def train_transform(pp: Preprocessing, preset: str = "light", allow_flips: bool = True,
                    allow_rotation: bool = True) -> v2.Compose:
    """Training transform; switch flips/rotations off where orientation carries meaning."""
    p = preset_named(preset)
    if p.crop_scale is None:
        return eval_transform(pp)
    return v2.Compose([*_augment_steps(pp, p, allow_flips, allow_rotation), *_to_tensor(pp)])


def _augment_steps(pp: Preprocessing, p: AugmentationPreset, allow_flips: bool, allow_rotation: bool) -> list:
    interp = interpolation_mode(pp.interpolation)
    steps: list = [v2.RandomResizedCrop(pp.input_size, scale=p.crop_scale, interpolation=interp, antialias=True)]
    if allow_flips:
        steps.append(v2.RandomHorizontalFlip())
        if p.vertical_flip:
            steps.append(v2.RandomVerticalFlip())
    if allow_rotation and p.rotation:
        steps.append(v2.RandomRotation(p.rotation, interpolation=InterpolationMode.BILINEAR))
    if p.jitter:
        steps.append(v2.ColorJitter(p.jitter, p.jitter, p.jitter))
    return steps


# Transforms of images already decoded and resized once (core.training.decode_cache): uint8 in, uint8 out;
# normalisation happens per batch on the device (normalize_batch).

def cached_eval_crop(pp: Preprocessing) -> v2.Compose:
    """For images cached at :func:`resize_size`: the centre crop of the evaluation transform."""
    return v2.Compose([v2.CenterCrop(pp.input_size)])


def cached_train_crop(pp: Preprocessing, preset: str = "light", allow_flips: bool = True,
                      allow_rotation: bool = True) -> v2.Compose:
    """The training augmentation applied to a cached image (same random draws as the per-image path)."""
    p = preset_named(preset)
    if p.crop_scale is None:
        return cached_eval_crop(pp)
    return v2.Compose(_augment_steps(pp, p, allow_flips, allow_rotation))


def train_cache_size(pp: Preprocessing, preset: str) -> int:
    """Short side to cache training images at: the evaluation size, or 1.5x the input size for
    presets that crop small parts of the image (so those crops are not blurred by upscaling)."""
    p = PRESETS.get(preset)
    base = resize_size(pp)
    if p is None or p.crop_scale is None or p.crop_scale[0] >= 0.5:
        return base
    return max(base, int(round(1.5 * pp.input_size)))
