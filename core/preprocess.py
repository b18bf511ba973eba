"""Preprocessing from the model's own data config, and augmentation presets."""

from dataclasses import asdict, dataclass

import timm
import torch
from torch import nn
from torchvision.transforms import InterpolationMode, v2

from core.errors import TransferLabError

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


def _to_tensor(pp: Preprocessing) -> list:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(pp.mean, pp.std)]


def eval_transform(pp: Preprocessing) -> v2.Compose:
    """Deterministic: resize the short side to size / crop_pct, centre crop, normalise."""
    interp = _INTERPOLATION.get(pp.interpolation, InterpolationMode.BICUBIC)
    resize = int(round(pp.input_size / pp.crop_pct))
    return v2.Compose([v2.Resize(resize, interpolation=interp, antialias=True), v2.CenterCrop(pp.input_size),
                       *_to_tensor(pp)])


@dataclass(frozen=True)
class AugmentationPreset:
    name: str
    description: str
    crop_scale: tuple[float, float] | None  # RandomResizedCrop scale; None = centre crop
    rotation: float  # degrees, +/-
    jitter: float  # brightness/contrast/saturation strength
    vertical_flip: bool


PRESETS: dict[str, AugmentationPreset] = {p.name: p for p in (
    AugmentationPreset("none", "No augmentation: every epoch sees the same centre crop.", None, 0, 0, False),
    AugmentationPreset("light", "Random crops keeping 70-100% of the image and left-right flips.",
                       (0.7, 1.0), 0, 0, False),
    AugmentationPreset("standard", "Random crops (35-100%), left-right flips, rotations up to 10 degrees, "
                       "mild colour jitter (20%).", (0.35, 1.0), 10, 0.2, False),
    AugmentationPreset("strong", "Random crops (20-100%), left-right and up-down flips, rotations up to 25 "
                       "degrees, strong colour jitter (40%).", (0.2, 1.0), 25, 0.4, True),
)}


def train_transform(pp: Preprocessing, preset: str = "light", allow_flips: bool = True,
                    allow_rotation: bool = True) -> v2.Compose:
    """Training transform; switch flips/rotations off where orientation carries meaning."""
    if preset not in PRESETS:
        raise TransferLabError(f"Unknown augmentation preset '{preset}'; choose one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    if p.crop_scale is None:
        return eval_transform(pp)
    interp = _INTERPOLATION.get(pp.interpolation, InterpolationMode.BICUBIC)
    steps: list = [v2.RandomResizedCrop(pp.input_size, scale=p.crop_scale, interpolation=interp, antialias=True)]
    if allow_flips:
        steps.append(v2.RandomHorizontalFlip())
        if p.vertical_flip:
            steps.append(v2.RandomVerticalFlip())
    if allow_rotation and p.rotation:
        steps.append(v2.RandomRotation(p.rotation, interpolation=InterpolationMode.BILINEAR))
    if p.jitter:
        steps.append(v2.ColorJitter(p.jitter, p.jitter, p.jitter))
    return v2.Compose([*steps, *_to_tensor(pp)])
