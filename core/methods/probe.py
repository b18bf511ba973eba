"""Pick the cut layer by probing: how well does each level of a frozen backbone predict the classes?

One forward pass per sampled image gives every cut level's activations (core.models.network.cut_levels),
each global-average-pooled; a cross-validated linear probe and LogME score each level and the
final features. The best *intermediate* level is the one to use as ``cut_index`` for the
"truncated" strategy.
"""

from __future__ import annotations

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
        from core.models.layer_words import feature_level
        where = feature_level(self.best_index, len(self.levels) + 1)  # the final features count as the last level
        return (f"Cut early, at layer {self.best_index + 1} of {len(self.levels) + 1} ({where} features), "
                "a simple classifier reaches "
                f"{100 * b['accuracy']:.0f}% accuracy on images it did not see (cross-validated), versus {final} on "
                f"the final features; always answering the most common class would score {100 * self.chance:.0f}% "
                "of the training images tested.")


def best_intermediate(accuracies: list[float]) -> int | None:
    """Index of the best level but the last (see BEST_RULE); None with fewer than two levels."""
    candidates = accuracies[:-1]
    if not candidates:
        return None
    top = max(candidates)
    return next(i for i, a in enumerate(candidates) if a >= top - 1e-12)


def probe_layers(scan: DatasetScan, model_name: str, max_images: int = 200, image_size: int | None = None,
                 weights: str = "pretrained", progress: Progress | None = None, cancel: CancelToken | None = None,
                 seed: int = 0, device: str = "auto") -> LayerProbe:
    """Probe every cut level of ``model_name`` on a stratified sample of ``scan``'s labelled images."""
    scan.require_trainable()
    sample = stratified_sample(training_items(scan), max_images, seed)
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
