"""Pick the cut layer by probing: how well does each level of a frozen backbone predict the classes?

One forward pass per sampled image gives every cut level's activations (core.models.network.cut_levels),
each global-average-pooled; a cross-validated linear probe and LogME score each level and the
final features. The best *intermediate* level is the one to use as ``cut_index`` for the
"truncated" strategy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from core.base.cancel import CancelToken, check
from core.base.errors import DatasetError
from core.base.progress import Progress, saying
from core.data.dataset import DatasetScan
from core.methods.pooled_features import PooledFeatures, extract, stratified_sample, training_items
from core.methods.transferability import linear_probe_accuracy, logme
from core.models.devices import resolve_device
from core.models.network import cut_levels
from core.models.preprocess import preprocessing_for
from core.models.weights import create_backbone

BEST_RULE = ("the intermediate level (any but the last) whose pooled features give the highest cross-validated "
             "linear-probe accuracy; on a tie, the earliest of them, which is the smallest network to run")


@dataclass
class LayerProbe:
    model_name: str
    images: int
    chance: float  # accuracy of always guessing the largest class
    levels: list[dict]  # {index, module, channels, accuracy, logme}, input to output
    best_index: int | None  # for TrainSettings.cut_index (strategy "truncated"); None if the model cannot be cut
    final_accuracy: float  # the whole backbone's pooled features (strategy "feature-extraction")
    final_logme: float

    @property
    def best(self) -> dict | None:
        return self.levels[self.best_index] if self.best_index is not None else None

    def to_dict(self) -> dict:
        return {**asdict(self), "best_rule": BEST_RULE}

    def sentence(self) -> str:
        """The finding in one plain-English sentence."""
        final = f"{100 * self.final_accuracy:.0f}%"
        if self.best is None:
            return (f"This model cannot be cut early; its final features reach {final} accuracy with a simple "
                    "classifier.")
        b = self.best
        return (f"Cut early, at {layer_name(self.best_index, len(self.levels))}, a simple classifier reaches "
                f"{100 * b['accuracy']:.0f}% accuracy on images it did not see (cross-validated), versus {final} on "
                f"the final features; always answering the most common class would score {100 * self.chance:.0f}% "
                "of the training images tested.")


def layer_name(index: int, levels: int) -> str:
    """A cut level as every page counts it: "layer 2 of 6 (early features)"; the final features are the last layer
    (``levels``: how many levels the network can be cut at; the final features are one more)."""
    from core.models.layer_words import feature_level
    return f"layer {index + 1} of {levels + 1} ({feature_level(index, levels + 1)} features)"


def margin_of_error(accuracy: float, images: int) -> float:
    """About two standard errors of an accuracy measured on ``images`` images (at least one image's worth): two
    layers closer than this are not told apart by this many images."""
    n = max(1, images)
    return max(1 / n, 1.96 * math.sqrt(max(0.0, accuracy * (1 - accuracy)) / n))


def best_intermediate(accuracies: list[float]) -> int | None:
    """Index of the best level but the last (see BEST_RULE); None with fewer than two levels."""
    candidates = accuracies[:-1]
    if not candidates:
        return None
    top = max(candidates)
    return next(i for i, a in enumerate(candidates) if a >= top - 1e-12)


def probe_layers(scan: DatasetScan, model_name: str, max_images: int = 200, image_size: int | None = None,
                 weights: str = "pretrained", progress: Progress | None = None, cancel: CancelToken | None = None,
                 seed: int = 0, device: str = "auto", val_fraction: float = 0.2) -> LayerProbe:
    """Probe every cut level of ``model_name`` on a stratified sample of the training images of ``scan`` split
    as a run with ``val_fraction`` and ``seed`` splits it (its validation images stay unseen)."""
    scan.require_trainable()
    sample = stratified_sample(training_items(scan, val_fraction, seed), max_images, seed)
    model = create_backbone(model_name, weights, progress=progress).model
    levels = cut_levels(model)
    message = "Measuring how well each layer's features predict your classes…"
    pooled = extract(model, sample, preprocessing_for(model, image_size), levels=list(range(len(levels))),
                     device=resolve_device(device), progress=saying(progress, message), cancel=cancel)
    return summarise(model_name, levels, pooled, seed, cancel)


def summarise(model_name: str, levels: list[dict], pooled: PooledFeatures, seed: int = 0,
              cancel: CancelToken | None = None) -> LayerProbe:
    """Score pooled features already extracted at every level of ``levels`` (core.models.network.cut_levels),
    e.g. by a caller that needed the same forward pass for something else."""
    if pooled.images == 0:
        raise DatasetError("None of the sampled images could be read")
    rows = []
    for index, (info, features) in enumerate(zip(levels, pooled.levels)):
        check(cancel)
        rows.append({"index": index, "module": info["module"], "channels": int(features.shape[1]),
                     "accuracy": linear_probe_accuracy(features, pooled.labels, seed=seed),
                     "logme": logme(features, pooled.labels)})
    chance = float(np.bincount(pooled.labels).max() / pooled.images)
    return LayerProbe(model_name, pooled.images, chance, rows, best_intermediate([r["accuracy"] for r in rows]),
                      linear_probe_accuracy(pooled.final, pooled.labels, seed=seed),
                      logme(pooled.final, pooled.labels))


def chart_notes(probe: dict, quick, strategy: str, cut: int | None) -> list[str]:
    """Why the layer test's bars (``probe``: LayerProbe.to_dict()) and the quick check (``quick``: the advisor's
    Measurements) differ where they do, and why the network is cut where it is (``cut``, for ``strategy``) when
    that is not the highest bar: the page says it rather than leave two numbers for one thing unexplained."""
    from core.training.settings import STRATEGY_TITLES
    pct = lambda v: f"{100 * v:.0f}%"  # noqa: E731
    levels, images = probe["levels"], probe["images"]
    n = len(levels)
    bars = [level["accuracy"] for level in levels] + [probe["final_accuracy"]]
    name = lambda i: "the final features" if i == n else layer_name(i, n)  # noqa: E731
    pairs = [(name(n), bars[n], quick.final_separability)]
    checked = quick.checked_level if quick.checked_level is not None else quick.early_level
    if checked is not None and 0 <= checked < n:
        pairs.append((name(checked), bars[checked], quick.early_separability))
    notes = []
    if all(pct(a) == pct(b) for _, a, b in pairs):
        notes.append("The bars agree with the quick check above: " +
                     ", ".join(f"{pct(a)} on {w}" for w, a, _ in pairs) + ".")
    else:
        notes.append("The bars and the quick check above score the same layers in two ways, so their numbers "
                     "differ (" + "; ".join(f"{w}: {pct(a)} here, {pct(b)} there" for w, a, b in pairs) + "). A bar "
                     "is a simple classifier fitted on part of the images and tested on the rest (cross-validation); "
                     "the quick check gives each image the class whose average it lies nearest. " +
                     (f"Both use {images} training images." if images == quick.sample_size else
                      f"The bars use {images} of your training images, the quick check {quick.sample_size}."))
    top = max(range(n + 1), key=lambda i: (bars[i], -i))  # the highest bar, the earliest on a tie
    if strategy != "truncated" or cut is None or not 0 <= cut < n:
        notes.append(f"Not cut: \u201c{STRATEGY_TITLES.get(strategy, strategy)}\u201d uses the whole network, whose "
                     f"final features score {pct(bars[n])} here (the orange bar).")
        return notes
    if bars[cut] >= bars[top] - 1e-12:
        tied = sum(1 for b in bars if b >= bars[cut] - 1e-12) > 1
        notes.append(f"The network is cut at {name(cut)}, the highest bar ({pct(bars[cut])})" +
                     (", the earliest of those as high: the smallest network." if tied else "."))
        return notes
    margin = margin_of_error((bars[top] + bars[cut]) / 2, images)
    within = f"the margin of error (about \u00b1{100 * margin:.0f} points on {images} images)"
    verb = "score" if top == n else "scores"  # "the final features score"
    gap = f"{name(top)} {verb} {pct(bars[top])}, against {pct(bars[cut])} at the cut, {name(cut)}"
    if bars[top] - bars[cut] <= margin:
        notes.append(f"Cut there though {gap}: that is within {within}, so the earlier layer, the smaller network, "
                     "is kept.")
    elif cut != probe.get("best_index"):
        notes.append(f"You cut at {name(cut)}; {gap}, more than {within}.")
    else:
        last = (" (the last layer before them ends the network's last block: a cut there keeps nearly all of it)"
                if top == n - 1 else "")
        notes.append(f"Cut at the highest of the layers a cut can use, though {gap}, more than {within}{last}. "
                     f"\u201c{STRATEGY_TITLES['feature-extraction']}\u201d uses the final features; the earlier "
                     "layer is suggested for images unlike ImageNet's photos.")
    return notes
