"""Augmentation presets: what each does, in words and numbers. No torch here (the GUI lists them at startup)."""

from dataclasses import dataclass

from core.base.errors import TransferLabError

FEATURE_VIEWS = 4  # augmented views cached per image when augmentation is on and the backbone is frozen


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


def preset_named(name: str) -> AugmentationPreset:
    if name not in PRESETS:
        raise TransferLabError(f"Unknown augmentation preset '{name}'; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
