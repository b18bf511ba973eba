"""The four-quadrant strategy advisor: dataset size x measured similarity to ImageNet.

Size: *small* when the median number of training images per class is below
``SMALL_MAX_PER_CLASS``. Similarity is measured, not asked, on a sample of the training
images (core.methods.quadrants has the rule and how its thresholds were calibrated): how far the
images' activation statistics lie from the ImageNet averages the BatchNorm layers store, and
how confident the original ImageNet classifier is on them. How well the *final* and an
*earlier* level's features separate the classes (leave-one-out nearest-class-mean accuracy)
is measured too and reported: it says whether the earlier layer is worth a try.
"""

import random
import statistics
from dataclasses import asdict, dataclass, field

import torch

from core.base.cancel import CancelToken, check
from core.base.progress import Progress
from core.data.dataset import DatasetScan, make_split
from core.methods.probe import layer_name
from core.methods.quadrants import (MAX_IMAGENET_SHIFT, MIN_IMAGENET_CONFIDENCE, SMALL_MAX_PER_CLASS, is_small,
                                    similarity_margin)
from core.models.imagenet_shift import StatisticsShift
from core.models.network import LayerGroup, cut_levels, default_cut_index, groups_up_to, layer_groups
from core.models.weights import create_backbone
from core.training.settings import (METHOD_KEYS, STRATEGY_TITLES, TrainSettings, consistent, strategy_settings,
                                    with_strategy)

SAMPLE_PER_CLASS = 30
SAMPLE_MAX = 400


@dataclass
class Measurements:
    num_classes: int
    train_images: int
    median_per_class: float
    sample_size: int
    final_separability: float  # leave-one-out nearest-class-mean accuracy, final features
    early_separability: float  # same, at the earlier level
    early_level: int | None
    early_level_name: str
    imagenet_confidence: float  # mean top-1 softmax of the original ImageNet head
    chance: float  # always answering the sample's most common class
    imagenet_shift: float | None = None  # activation statistics vs. ImageNet's (None: no BatchNorm layers)
    seconds_per_image: float = 0.0  # the measurement pass (decoding + frozen forward), for time budgets
    features_cached: bool = False  # the pass was over every image of the split and kept their features for the run
    checked_level: int | None = None  # the level early_separability was measured at (a layer test moves the cut on)
    level_names: list[str] = field(default_factory=list)  # the modules a network can be cut after, input to output

    @property
    def small(self) -> bool:
        return is_small([self.median_per_class])

    @property
    def similarity(self) -> float:
        """>= 0 similar to ImageNet, < 0 different (core.methods.quadrants.similarity_margin)."""
        return similarity_margin(self.imagenet_confidence, self.imagenet_shift)

    @property
    def similar(self) -> bool:
        return self.similarity >= 0


@dataclass
class Suggestion:
    strategy: str
    size: str  # "small" | "large"
    similarity: str  # "similar" | "different"
    freeze_depth: int
    num_groups: int
    cut_index: int | None
    head_lr: float
    backbone_lr: float
    epochs: int
    augmentation: str
    rationale: list[str]
    measurements: Measurements
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["title"] = STRATEGY_TITLES[self.strategy]
        d["measurements"]["similarity_margin"] = self.measurements.similarity
        return d

    def settings_for(self, strategy: str, settings: TrainSettings) -> TrainSettings:
        """``settings`` for ``strategy``: this suggestion's own when it is the suggested one, else that
        strategy's defaults, cutting (for the earlier-layer strategy) where the probe or the measurement
        found the earlier layer."""
        if strategy == self.strategy:
            return self.apply(settings)
        probe = self.extra.get("probe") or {}
        cut = next((c for c in (self.cut_index, probe.get("best_index"), self.measurements.early_level)
                    if c is not None), None)
        return with_strategy(settings, strategy, self.num_groups, cut, small=self.size == "small")

    def groups_below_cut(self, settings: TrainSettings) -> int | None:
        """With ``settings`` cutting the network: how many layer groups are left below the cut (the later ones
        are cut off), wherever it cuts (the layer test's best level, the measured one, or one chosen by hand).
        None when the network is not cut, or not known."""
        if settings.strategy != "truncated" or settings.cut_index is None:
            return None
        per_level = self.extra.get("cut_groups") or []
        if 0 <= settings.cut_index < len(per_level):
            return per_level[settings.cut_index]
        return self.extra.get("groups_below_cut") if settings.cut_index == self.measurements.early_level else None

    def cut_words(self, settings: TrainSettings) -> str:
        """Where ``settings`` cut the network, named as the Strategy step names it and placed among the layer groups
        the Freeze step lists ("" when the network is not cut)."""
        if settings.strategy != "truncated" or settings.cut_index is None:
            return ""
        levels = len(self.measurements.level_names)
        where = layer_name(settings.cut_index, levels) if levels else f"layer {settings.cut_index + 1}"
        kept = self.groups_below_cut(settings)
        rows = (f": the network then ends with layer group {kept} of {self.num_groups} in the table below (Strategy "
                "counts the places where the network can be cut, this table its groups of weights, in finer steps)"
                if kept else "")
        return f"Cut after {where}, as chosen on the Strategy step{rows}."

    def apply(self, settings: TrainSettings) -> TrainSettings:
        """The settings with this suggestion's strategy, depth, cut and learning rates."""
        from dataclasses import replace
        return consistent(replace(settings, strategy=self.strategy, freeze_depth=self.freeze_depth,
                                  cut_index=self.cut_index, head_lr=self.head_lr, backbone_lr=self.backbone_lr,
                                  epochs=self.epochs, augmentation=self.augmentation, **self.extra.get("methods", {}),
                                  extra={**settings.extra, "rationale": list(self.rationale),
                                         "suggested": self.strategy}))


def loo_nearest_mean_accuracy(features: torch.Tensor, labels: torch.Tensor) -> float:
    """Leave-one-out accuracy of a nearest-class-mean classifier on standardised, L2-normalised features."""
    x = features.double()
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    x = torch.nn.functional.normalize(x, dim=1)
    classes = labels.unique()
    sums = torch.stack([x[labels == c].sum(0) for c in classes])
    counts = torch.tensor([(labels == c).sum().item() for c in classes], dtype=torch.double)
    position = {int(c): i for i, c in enumerate(classes)}
    own = torch.tensor([position[int(y)] for y in labels])
    correct = 0
    for i in range(len(x)):
        s, n = sums.clone(), counts.clone()
        s[own[i]] -= x[i]
        n[own[i]] -= 1
        valid = n > 0
        means = torch.nn.functional.normalize(s[valid] / n[valid, None], dim=1)
        pred = torch.arange(len(classes))[valid][(means @ x[i]).argmax()]
        correct += int(pred == own[i])
    return correct / len(x)


def decide(m: Measurements, num_groups: int, default_cut: int | None) -> Suggestion:
    """The four-quadrant rule, from measured numbers. Pure: no model needed."""
    small, similar = m.small, m.similar
    if small and similar:
        strategy = "feature-extraction"
    elif small and default_cut is not None:
        strategy = "truncated"
    elif small:
        strategy = "feature-extraction"
    elif similar:
        strategy = "fine-tune-top"
    else:
        strategy = "fine-tune-all"
    values = strategy_settings(strategy, num_groups, default_cut, small)
    pct = lambda v: f"{100 * v:.0f}%"
    why = [
        f"Your training set has a median of {m.median_per_class:.0f} images per class over {m.num_classes} classes: "
        f"{'small' if small else 'large'} (the threshold is {SMALL_MAX_PER_CLASS} per class).",
        similarity_sentence(m),
        quick_check_sentence(m)
        + (f"guessing would score {pct(m.chance)} (the classes are the same size)."
           if m.num_classes > 1 and abs(m.chance * m.num_classes - 1) < 1e-6 else
           f"always answering the most common class would score {pct(m.chance)} of the training images measured "
           "here."),
    ]
    advice = {
        "feature-extraction": "Keep every pretrained layer as it is (frozen) and fit only a simple classifier on the "
                              "final features, in one go; how strongly it is held back from memorising is "
                              "chosen by trying several settings on parts of your training images "
                              "(cross-validation): fast, and with few images it cannot overfit the pretrained "
                              "layers.",
        "truncated": "Cut the network at an earlier layer, where features are still generic (edges, colours, "
                     "textures), and fit a simple classifier on them in one go; the later, ImageNet-specific "
                     "layers are dropped.",
        "fine-tune-top": f"Fine-tune the top {values['freeze_depth']} of {num_groups} layer groups with a low "
                         f"learning rate ({values['backbone_lr']:g}; the new classifier {values['head_lr']:g}); "
                         "with this many images the top layers can adapt without destroying the pretrained features.",
        "fine-tune-all": f"Fine-tune all {num_groups} layer groups starting from the pretrained weights (learning "
                         f"rate {values['backbone_lr']:g}; the new classifier {values['head_lr']:g}); you have enough "
                         "images to adapt every layer to your kind of data.",
    }
    if small and not similar and default_cut is None:
        why.append("This model cannot be cut at an earlier layer, so feature extraction is the next best choice.")
    why.append(f"Suggested: {STRATEGY_TITLES[strategy]}. {advice[strategy]}")
    if values["two_stage"]:
        why.append(f"Fine-tuning starts with {values['head_epochs']} epochs that train only the new classifier, so "
                   "its first, random errors do not disturb the pretrained layers (two-stage fine-tuning)." +
                   (" With few images, L2-SP also keeps the trained layers near their pretrained values."
                    if values["l2sp_alpha"] else ""))
    return Suggestion(strategy, "small" if small else "large", "similar" if similar else "different",
                      values["freeze_depth"], num_groups, values["cut_index"], values["head_lr"],
                      values["backbone_lr"], values["epochs"], values["augmentation"], why, m,
                      extra={"methods": {k: values[k] for k in METHOD_KEYS}})


def group_levels(num_groups: int, cut_groups: list[int]) -> list[str]:
    """Each layer group's place in words ("early", "mid-level", "late"), counted as the Strategy step counts layers:
    a group gets the word of the first cut level that reaches it (``cut_groups``: groups below each cut level), the
    groups above the last one that of the final features. Counting the groups themselves named the group a cut ends
    "late" where Strategy had called that layer "mid-level"."""
    from core.models.layer_words import feature_level
    levels = len(cut_groups)
    words = []
    for row in range(num_groups):
        level = next((i for i, below in enumerate(cut_groups) if below >= row + 1), levels)
        words.append(feature_level(level, levels + 1))
    return words


def quick_check_sentence(m: Measurements) -> str:
    """The quick check's two numbers, saying which classifier, which images and which layer they come from (the
    layer test scores the same layers with another classifier, so its numbers may differ)."""
    pct = lambda v: f"{100 * v:.0f}%"  # noqa: E731
    level = m.checked_level if m.checked_level is not None else m.early_level
    where = (f"at {layer_name(level, len(m.level_names))}" if m.level_names and level is not None else
             "at an earlier layer")
    return (f"Quick check (each of {m.sample_size} training images given the class whose average it lies nearest, "
            f"by a check that did not see that image): {pct(m.final_separability)} right on the model's final "
            f"features, {pct(m.early_separability)} {where}; ")


def similarity_sentence(m: Measurements) -> str:
    """The similarity verdict with the two numbers it rests on, in plain words."""
    pct = lambda v: f"{100 * v:.0f}%"  # noqa: E731
    verdict = "similar to" if m.similar else "different from"
    confidence = (f"the original ImageNet classifier is on average {pct(m.imagenet_confidence)} sure of what it "
                  f"sees (photos: {pct(MIN_IMAGENET_CONFIDENCE)} or more)")
    if m.imagenet_shift is None:
        return f"Your images look {verdict} the photos the model learnt from: {confidence}."
    return (f"Your images look {verdict} the photos the model learnt from: inside the network their average "
            f"signals lie {m.imagenet_shift:.2f} from the photos' (photos: {MAX_IMAGENET_SHIFT:.2f} or less), and "
            f"{confidence}.")


def _sample(items, seed: int):
    """Every item when there are at most ``SAMPLE_MAX`` (a small set: the pass's rows then serve the run);
    else up to ``SAMPLE_PER_CLASS`` of each class, seeded."""
    if len(items) <= SAMPLE_MAX:
        return list(items)
    rng = random.Random(seed)
    by_class: dict[int, list] = {}
    for item in sorted(items, key=lambda i: str(i.path)):
        by_class.setdefault(item.label, []).append(item)
    per_class = max(2, min(SAMPLE_PER_CLASS, SAMPLE_MAX // max(1, len(by_class))))
    chosen = []
    for label in sorted(by_class):
        group = by_class[label]
        rng.shuffle(group)
        chosen.extend(group[:per_class])
    return chosen


@torch.inference_mode()
def measure(scan: DatasetScan, settings: TrainSettings, progress: Progress | None = None,
            cancel: CancelToken | None = None) -> tuple[Measurements, list[LayerGroup], int | None]:
    """Run the pretrained model on a sample; returns (measurements, its layer groups, default cut).

    The sample goes through the network as a feature-extraction run's cache computes it
    (core.training.frozen_pass). When the sample is every training image (small sets), those rows are
    kept for that run, and the validation images' rows as well (``Measurements.features_cached``): the
    run then computes nothing. The pass's time is the speed "Auto" plans with."""
    from core.training.frozen_pass import frozen_features
    scan.require_trainable()
    split = make_split(scan, settings.val_fraction, settings.seed)
    per_class = [sum(1 for i in split.train if i.label == c) for c in range(len(scan.classes))]
    loaded = create_backbone(settings.model_name, settings.weights, settings.weights_file,
                             progress=progress)
    model = loaded.model.eval()
    groups = layer_groups(model)
    cut = settings.cut_index if settings.cut_index is not None else default_cut_index(model)
    levels = cut_levels(model)
    sample = _sample(split.train, settings.seed)
    whole = sample == list(split.train)
    shift: list[StatisticsShift] = []

    def watch(encoder: torch.nn.Module):
        shift.append(StatisticsShift(encoder))
        return shift[0].close

    # the whole training split in its own order is the key a feature-extraction run looks for
    seen = frozen_features(settings, model, sample, cut, keep=whole, watch=watch,
                           progress=progress, cancel=cancel, val_items=split.val if whole else ())
    check(cancel)
    logits = model.get_classifier()(torch.from_numpy(seen.final).to(next(model.parameters()).dtype))
    y = torch.from_numpy(seen.labels).long()
    final_sep = loo_nearest_mean_accuracy(torch.from_numpy(seen.final), y)
    early_sep = loo_nearest_mean_accuracy(torch.from_numpy(seen.earlier), y) if seen.earlier is not None else 0.0
    level_name = levels[cut]["module"] if cut is not None else "(none)"
    m = Measurements(len(scan.classes), len(split.train), float(statistics.median(per_class)), len(y),
                     final_sep, early_sep, cut, level_name, float(logits.float().softmax(-1).amax(-1).mean()),
                     float(torch.bincount(y).max()) / max(1, len(y)),  # always the most common class
                     shift[0].value() if settings.pretrained and shift else None, seen.seconds_per_image,
                     seen.kept, cut, [level["module"] for level in levels])
    return m, groups, cut


def advise(scan: DatasetScan, settings: TrainSettings | None = None, progress: Progress | None = None,
           cancel: CancelToken | None = None, probe: bool = True) -> Suggestion:
    """Measure, apply the four-quadrant rule; for the small + different quadrant, probe every layer and
    cut where a linear classifier does best (unless the user fixed the cut, or ``probe`` is False: Auto
    measures the earlier layer as a candidate of its own instead)."""
    settings = settings or TrainSettings()
    m, groups, cut = measure(scan, settings, progress, cancel)
    suggestion = decide(m, len(groups), cut)
    if not settings.pretrained:
        suggestion = from_scratch(suggestion, len(groups), m)
    suggestion.extra["layer_groups"] = [{"name": g.name, "params": g.num_params} for g in groups]
    if probe and suggestion.strategy == "truncated" and settings.cut_index is None and not settings.weights_file:
        try:
            use_probe(suggestion, probe_for(scan, settings, progress, cancel))
        except ValueError:  # e.g. every class but one has a single training image: nothing to cross-validate
            suggestion.rationale.insert(-1, "Testing every layer was skipped: it needs at least 2 classes with 2 "
                                            "or more training images each. The network is cut at the usual level.")
    suggestion.extra["groups_below_cut"] = groups_up_to(groups, suggestion.measurements.early_level_name)
    # where each cut level ends among the layer groups, so the Freeze step shows any cut the way Strategy names it
    cut_groups = suggestion.extra["cut_groups"] = [groups_up_to(groups, name) for name in m.level_names]
    if cut_groups and None not in cut_groups:
        for g, word in zip(suggestion.extra["layer_groups"], group_levels(len(groups), cut_groups)):
            g["level"] = word
    return suggestion


def from_scratch(suggestion: Suggestion, num_groups: int, m: Measurements) -> Suggestion:
    """Random weights: there is nothing to reuse, so every layer trains, at the classifier's learning rate."""
    values = strategy_settings("fine-tune-all", num_groups, None, m.small)
    why = [*suggestion.rationale[:-1], "You chose random weights (no pretraining), so nothing can stay frozen: "
           f"every layer is trained, from scratch, at learning rate {values['head_lr']:g}. Expect this to need many "
           "more images and epochs than starting from pretrained weights."]
    return Suggestion("fine-tune-all", suggestion.size, suggestion.similarity, num_groups, num_groups, None,
                      values["head_lr"], values["head_lr"], values["epochs"], values["augmentation"], why, m,
                      extra={"methods": {"two_stage": False, "l2sp_alpha": 0.0, "gradual_unfreeze": False}})


def probe_for(scan: DatasetScan, settings: TrainSettings, progress: Progress | None = None,
              cancel: CancelToken | None = None):
    """The layer-wise linear probe (core.methods.probe) for this dataset and model, on the training images of the
    run's own split (the quick check's images; the default split's let a changed validation share's images in)."""
    from core.methods.probe import probe_layers
    return probe_layers(scan, settings.model_name, image_size=settings.image_size, weights=settings.weights,
                        progress=progress, cancel=cancel, seed=settings.seed, device=settings.device,
                        val_fraction=settings.val_fraction)


def use_probe(suggestion: Suggestion, probe) -> None:
    """Cut where the probe found the best intermediate level; the probe is kept for the chart."""
    suggestion.extra["probe"] = probe.to_dict()
    if probe.best_index is None or suggestion.strategy != "truncated":
        return
    if probe.best_index != suggestion.measurements.early_level:  # the measured pass kept another level's rows
        suggestion.measurements.features_cached = False
    suggestion.cut_index = probe.best_index
    suggestion.measurements.early_level_name = probe.best["module"]  # where the cut is, for the freeze step
    suggestion.measurements.early_level = probe.best_index
    suggestion.rationale.insert(-1, "Testing every layer: " + probe.sentence() + " The network is cut there. (This "
                                    "fits a simple classifier at each layer and tests it on images it did not see, "
                                    "a more thorough test than the quick check above, which gives each image the "
                                    "nearest class average: so the two numbers for one layer can differ.)")
