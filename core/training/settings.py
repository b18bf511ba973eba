"""Everything that defines a training run, with sensible defaults per strategy."""

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from core.base.errors import TransferLabError
from core.models.catalog import DEFAULT_MODEL

PRECISIONS = ("auto", "fp32")
CLASS_WEIGHTING = ("auto", "on", "off")
STRATEGIES = ("feature-extraction", "truncated", "fine-tune-top", "fine-tune-all")
FINE_TUNE_STRATEGIES = ("fine-tune-top", "fine-tune-all")
HEAD_ONLY_STRATEGIES = ("feature-extraction", "truncated")
# How a classifier on a frozen backbone is trained: "epochs" of AdamW on mini-batches, or "converged":
# fitted to convergence on the cached features with a cross-validated L2 strength (core.training.linear_head).
CLASSIFIER_FITS = ("epochs", "converged")
WEIGHTS = ("pretrained", "none")

STRATEGY_TITLES = {
    "feature-extraction": "Feature extraction (pretrained layers kept as they are + a new classifier)",
    "truncated": "Earlier-layer features (the network cut early + a new classifier)",
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
    with_level: int | None = None  # only for "feature-extraction": the classifier also sees this level's features
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
    # Two-stage fine-tuning (fastai's fine_tune): the first head_epochs of the epochs train only the head,
    # the rest also the top freeze_depth groups; gradual_unfreeze adds one group per epoch of stage 2.
    two_stage: bool = False
    head_epochs: int = 2
    gradual_unfreeze: bool = False
    # L2-SP (Li et al. 2018): alpha/2 * ||w - w_pretrained||^2 on trained backbone weights (then no weight
    # decay on them), beta/2 * ||w||^2 on the new head. 0 = off.
    l2sp_alpha: float = 0.0
    l2sp_beta: float = 0.0
    classifier_fit: str = "epochs"  # see CLASSIFIER_FITS; the strategies' defaults choose "converged"
    # LP-FT (Kumar et al. 2022): two-stage fine-tuning whose head-only stage fits the classifier to
    # convergence on the evaluation crop's features (one fit), so fine-tuning starts from a good head.
    lp_ft: bool = False
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
        self._validate_variants()
        self._validate_classifier_fit()
        if self.with_level is not None and (self.strategy != "feature-extraction" or self.augmentation != "none"):
            raise TransferLabError("A classifier on the final and an earlier layer's features together needs feature "
                                   "extraction without augmentation (each image's features are computed once)")

    def _validate_classifier_fit(self) -> None:
        if self.classifier_fit not in CLASSIFIER_FITS:
            raise TransferLabError(f"Unknown classifier fit '{self.classifier_fit}'; choose one of "
                                   f"{', '.join(CLASSIFIER_FITS)}")
        if self.classifier_fit != "converged":
            return
        if self.strategy not in HEAD_ONLY_STRATEGIES:
            raise TransferLabError("Fitting the classifier to convergence needs a frozen backbone: choose feature "
                                   "extraction or earlier-layer features (fine-tuning trains in epochs).")
        if not self.speedups:
            raise TransferLabError("Fitting the classifier to convergence works on cached features: turn the "
                                   "speed-ups on, or train the classifier in epochs.")
        if self.epochs != 1:
            raise TransferLabError("A classifier fitted to convergence is fitted once: set epochs to 1 (or train "
                                   "the classifier in epochs).")

    @property
    def pretrained(self) -> bool:
        return self.weights != "none" or bool(self.weights_file)

    def _validate_variants(self) -> None:
        """From scratch, two-stage fine-tuning and L2-SP: only where they mean something."""
        if self.weights not in WEIGHTS:
            raise TransferLabError(f"Unknown weights option '{self.weights}'; choose one of {', '.join(WEIGHTS)}")
        fine_tuning = self.strategy in FINE_TUNE_STRATEGIES
        if not self.pretrained and not fine_tuning:
            raise TransferLabError(f"Training from scratch (random weights) needs the backbone to learn, but "
                                   f"'{self.strategy}' keeps it frozen: its features would be random. Choose "
                                   "fine-tune-all (or use the pretrained weights).")
        if self.two_stage:
            if not fine_tuning:
                raise TransferLabError("Two-stage fine-tuning trains the head, then unfreezes backbone layers: choose "
                                       "fine-tune-top or fine-tune-all (with this strategy only the head ever trains).")
            if not self.pretrained:
                raise TransferLabError("Two-stage fine-tuning first fits the head to the pretrained features; with "
                                       "random weights, train everything from the start instead.")
            if self.freeze_depth < 1:
                raise TransferLabError("Two-stage fine-tuning needs at least one backbone layer group to unfreeze "
                                       "(freeze depth 1 or more)")
            if not 1 <= self.head_epochs < self.epochs:
                raise TransferLabError(f"Two-stage fine-tuning splits the {self.epochs} epochs into head-only epochs "
                                       f"and fine-tuning epochs: head epochs must be between 1 and {self.epochs - 1}")
        if self.lp_ft and not (self.two_stage and self.speedups):
            raise TransferLabError("LP-FT fits the classifier first, then fine-tunes: it needs two-stage fine-tuning "
                                   "with the speed-ups on (the classifier is fitted on cached features)")
        if self.gradual_unfreeze and not self.two_stage:
            raise TransferLabError("Gradual unfreezing is part of two-stage fine-tuning: turn two-stage on")
        if self.l2sp_alpha < 0 or self.l2sp_beta < 0:
            raise TransferLabError("L2-SP strengths (alpha, beta) must be 0 or more")
        if self.l2sp_alpha > 0 and not (fine_tuning and self.pretrained and self.freeze_depth > 0):
            raise TransferLabError("L2-SP keeps fine-tuned backbone layers near their pretrained weights: it needs "
                                   "pretrained weights and a fine-tune strategy that trains backbone layers")


DEFAULT_L2SP = 0.01  # L2-SP strength offered for small datasets that are fine-tuned
METHOD_KEYS = ("two_stage", "head_epochs", "gradual_unfreeze", "l2sp_alpha", "classifier_fit")


def method_defaults(strategy: str, small: bool) -> dict:
    """Fine-tuning starts two-stage (fastai's fine_tune); with few images L2-SP is on too."""
    fine = strategy in FINE_TUNE_STRATEGIES
    return dict(two_stage=fine, head_epochs=2, gradual_unfreeze=False,
                l2sp_alpha=DEFAULT_L2SP if fine and small else 0.0,
                classifier_fit="converged" if strategy in HEAD_ONLY_STRATEGIES else "epochs")


def fine_tunes(s: TrainSettings) -> bool:
    """Pretrained layers are trained: what two-stage fine-tuning and L2-SP need."""
    return s.strategy in FINE_TUNE_STRATEGIES and s.pretrained and s.freeze_depth > 0


def two_stage_possible(s: TrainSettings) -> bool:
    """A classifier-alone stage fits before fine-tuning: fine-tuning, over two epochs or more."""
    return fine_tunes(s) and s.epochs >= 2


DROPPABLE = ("two_stage", "gradual_unfreeze", "l2sp_alpha", "lp_ft")  # what consistent() may switch off


def consistent(s: TrainSettings) -> TrainSettings:
    """Switch off the fine-tuning methods the other settings leave no room for (no backbone layer trained,
    random weights, a single epoch), so a change of strategy, depth or epochs never yields a run that
    validate() refuses. Explicit user requests are validated, not silently dropped: call this before them."""
    fine = fine_tunes(s)
    two = s.two_stage and two_stage_possible(s)
    if s.classifier_fit == "converged":
        converged = s.strategy in HEAD_ONLY_STRATEGIES and s.speedups
        s = replace(s, epochs=1) if converged else replace(s, classifier_fit="epochs")
    both = s.strategy == "feature-extraction" and s.augmentation == "none"  # what with_level needs
    return replace(s, two_stage=two, head_epochs=min(max(1, s.head_epochs), max(1, s.epochs - 1)),
                   with_level=s.with_level if both else None,
                   gradual_unfreeze=s.gradual_unfreeze and two, l2sp_alpha=s.l2sp_alpha if fine else 0.0,
                   lp_ft=s.lp_ft and two and s.speedups)


def strategy_settings(strategy: str, num_groups: int, default_cut: int | None, small: bool = True) -> dict:
    """Defaults for a strategy: freeze depth, cut, learning rates, epochs, augmentation, fine-tuning methods."""
    if strategy not in STRATEGIES:
        raise TransferLabError(f"Unknown strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}")
    return {**_strategy_basics(strategy, num_groups, default_cut, small), **method_defaults(strategy, small)}


def _strategy_basics(strategy: str, num_groups: int, default_cut: int | None, small: bool) -> dict:
    aug = "light" if small else "standard"
    # A frozen backbone runs once per image and its features are cached (core.training.engines), so feature
    # strategies start without augmentation: each augmented view would cost another pass. Their
    # classifier is fitted to convergence once (method_defaults: classifier_fit), hence one epoch.
    if strategy == "feature-extraction":
        return dict(strategy=strategy, freeze_depth=0, cut_index=None, head_lr=3e-3, backbone_lr=1e-4,
                    epochs=1, augmentation="none")
    if strategy == "truncated":
        return dict(strategy=strategy, freeze_depth=0, cut_index=default_cut, head_lr=3e-3, backbone_lr=1e-4,
                    epochs=1, augmentation="none")
    if strategy == "fine-tune-top":
        depth = max(1, math.ceil(num_groups / 3))
        return dict(strategy=strategy, freeze_depth=depth, cut_index=None, head_lr=1e-3, backbone_lr=1e-4,
                    epochs=8, augmentation=aug)
    return dict(strategy=strategy, freeze_depth=num_groups, cut_index=None, head_lr=1e-3, backbone_lr=2e-4,
                epochs=10, augmentation=aug)


def with_strategy(settings: TrainSettings, strategy: str, num_groups: int, default_cut: int | None,
                  small: bool = True) -> TrainSettings:
    return consistent(replace(settings, **strategy_settings(strategy, num_groups, default_cut, small)))
