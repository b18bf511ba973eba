"""Everything that defines a training run, with sensible defaults per strategy."""

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from core.catalog import DEFAULT_MODEL
from core.errors import TransferLabError

PRECISIONS = ("auto", "fp32")
CLASS_WEIGHTING = ("auto", "on", "off")
STRATEGIES = ("feature-extraction", "truncated", "fine-tune-top", "fine-tune-all")

STRATEGY_TITLES = {
    "feature-extraction": "Feature extraction (frozen backbone + linear classifier)",
    "truncated": "Earlier-layer features (cut the network early + linear classifier)",
    "fine-tune-top": "Fine-tune the top layers with a low learning rate",
    "fine-tune-all": "Fine-tune all layers from the pretrained weights",
}


@dataclass
class TrainSettings:
    model_name: str = DEFAULT_MODEL
    weights: str = "pretrained"  # or "none" (random initialisation)
    weights_file: str | None = None  # a user-imported weights file
    strategy: str = "feature-extraction"
    freeze_depth: int = 0  # backbone layer groups trained, counted from the head
    cut_index: int | None = None  # only for "truncated": the intermediate level to cut at
    epochs: int = 10
    batch_size: int = 32
    head_lr: float = 3e-3
    backbone_lr: float = 1e-4
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.1  # share of all steps spent warming up
    label_smoothing: float = 0.0
    class_weighting: str = "auto"  # weight the loss by inverse class frequency: "auto" (from 3:1), "on", "off"
    augmentation: str = "light"
    allow_flips: bool = True
    allow_rotation: bool = True
    early_stopping_patience: int | None = None  # epochs without improvement before stopping
    val_fraction: float = 0.2
    image_size: int | None = None  # None: the model's own input size
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0  # DataLoader worker processes of the plain path (always 0 in the packaged app)
    speedups: bool = True  # caches, channels-last, mixed precision; False = the plain reference path
    precision: str = "auto"  # "auto": mixed precision where the device does it natively; "fp32": never
    cache_memory_mb: int | None = None  # memory for decoded images and cached features; None: 20% of RAM, <= 3 GiB
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainSettings":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise TransferLabError(f"Unknown strategy '{self.strategy}'; choose one of {', '.join(STRATEGIES)}")
        if self.epochs < 1:
            raise TransferLabError("Epochs must be at least 1")
        if self.batch_size < 1:
            raise TransferLabError("Batch size must be at least 1")
        if not (0 < self.head_lr < 1 and 0 < self.backbone_lr < 1):
            raise TransferLabError("Learning rates must be between 0 and 1")
        if not 0 <= self.label_smoothing < 1:
            raise TransferLabError("Label smoothing must be between 0 and 1")
        if self.class_weighting not in CLASS_WEIGHTING:
            raise TransferLabError(f"Unknown class weighting '{self.class_weighting}'; choose one of "
                                   f"{', '.join(CLASS_WEIGHTING)}")
        if self.precision not in PRECISIONS:
            raise TransferLabError(f"Unknown precision '{self.precision}'; choose one of {', '.join(PRECISIONS)}")
        if self.cache_memory_mb is not None and self.cache_memory_mb < 0:
            raise TransferLabError("The cache memory must be 0 MB or more")
        if self.weights_file and not Path(self.weights_file).is_file():
            raise TransferLabError(f"Weights file not found: {self.weights_file}")


def strategy_settings(strategy: str, num_groups: int, default_cut: int | None, small: bool = True) -> dict:
    """Defaults for a strategy: freeze depth, cut, learning rates, epochs, augmentation."""
    if strategy not in STRATEGIES:
        raise TransferLabError(f"Unknown strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}")
    aug = "light" if small else "standard"
    # A frozen backbone runs once per image and its features are cached (core.engines), so feature
    # strategies start without augmentation: each augmented view would cost another pass.
    if strategy == "feature-extraction":
        return dict(strategy=strategy, freeze_depth=0, cut_index=None, head_lr=3e-3, backbone_lr=1e-4,
                    epochs=10, augmentation="none")
    if strategy == "truncated":
        return dict(strategy=strategy, freeze_depth=0, cut_index=default_cut, head_lr=3e-3, backbone_lr=1e-4,
                    epochs=10, augmentation="none")
    if strategy == "fine-tune-top":
        depth = max(1, math.ceil(num_groups / 3))
        return dict(strategy=strategy, freeze_depth=depth, cut_index=None, head_lr=1e-3, backbone_lr=1e-4,
                    epochs=8, augmentation=aug)
    return dict(strategy=strategy, freeze_depth=num_groups, cut_index=None, head_lr=1e-3, backbone_lr=2e-4,
                epochs=10, augmentation=aug)


def with_strategy(settings: TrainSettings, strategy: str, num_groups: int, default_cut: int | None,
                  small: bool = True) -> TrainSettings:
    return replace(settings, **strategy_settings(strategy, num_groups, default_cut, small))
