"""Moving "I don't know"'s threshold (core.models.unknown_score): what each threshold lets through of images of
known classes and catches of images of none, and keeping the threshold the user picks with the model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.base.atomic import atomic_write_json
from core.base.errors import TransferLabError
from core.evaluation.metrics import roc_curve
from core.models.bundle import META_FILE, Bundle, read_meta

if TYPE_CHECKING:
    from core.evaluation.predict import Evaluation

POINTS = 200  # thresholds on the curve


@dataclass(frozen=True)
class ThresholdCurve:
    """For each of ``thresholds`` (ascending): the share of ``known`` scores at or under it (accepted) and the
    share of ``other`` scores above it (rejected; empty without images of no class)."""
    thresholds: list[float]
    accepted_known: list[float]
    rejected_other: list[float]
    known_images: int
    other_images: int
    auroc: float | None  # how well the score ranks the others above the known images (None without others)

    def at(self, threshold: float) -> tuple[float, float | None]:
        """(accepted share of known images, rejected share of the others or None) at ``threshold``."""
        i = int(np.searchsorted(self.thresholds, threshold, side="right")) - 1
        if i < 0:
            return 0.0, (1.0 if self.other_images else None)
        return self.accepted_known[i], (self.rejected_other[i] if self.other_images else None)

    def threshold_accepting(self, share: float) -> float:
        """The lowest threshold on the curve that accepts at least ``share`` of the known images."""
        i = min(int(np.searchsorted(self.accepted_known, share, side="left")), len(self.thresholds) - 1)
        return self.thresholds[i]


def threshold_curve(known, other=(), extra=(), points: int = POINTS) -> ThresholdCurve:
    """The curve over thresholds spread evenly (in rank) over every score given, each score of ``known`` (images
    of the model's classes the score did not learn from) and of ``other`` (images of none of them), and at the
    ``extra`` thresholds too."""
    k, o = np.sort(np.asarray(known, dtype=float)), np.sort(np.asarray(other, dtype=float))
    if not len(k):
        raise TransferLabError("No scores of images of known classes to draw the threshold's curve from")
    every = np.concatenate([k, o])
    grid = np.unique(np.r_[np.quantile(every, np.linspace(0, 1, points), method="nearest"), np.asarray(extra, float)])
    accepted = np.searchsorted(k, grid, side="right") / len(k)
    rejected = (1 - np.searchsorted(o, grid, side="right") / len(o)) if len(o) else np.zeros(0)
    auroc = roc_curve([0] * len(k) + [1] * len(o), [*k, *o])["auc"] if len(o) else None
    return ThresholdCurve(grid.tolist(), accepted.tolist(), rejected.tolist(), len(k), len(o), auroc)


def known_scores(bundle: Bundle, evaluation: Evaluation | None = None) -> tuple[list[float], str]:
    """Scores of images of known classes that no part of the model learnt from, and what they are: a test
    folder's (an evaluation of one), else those that set the threshold when the model was trained."""
    images = evaluation.images if evaluation is not None else []
    if evaluation is not None and evaluation.split in ("test", "all") and images and "unknown_score" in images[0]:
        return [i["unknown_score"] for i in images], f"the {len(images)} images scored"
    described = bundle.meta.get("unknown") or {}
    scores = described.get("held_out_scores")
    if not scores:
        raise TransferLabError("This model was trained before TransferLab kept the scores its “I don't know” "
                               "threshold was set on; train it again to move the threshold")
    where = "validation" if described.get("threshold_from") == "validation" else "labelled"
    return list(scores), f"{len(scores)} {where} images, each scored by a check that had not seen it"


def set_unknown_threshold(bundle: Bundle, threshold: float) -> None:
    """Keep ``threshold`` with the model in its run folder (its description; the weights are untouched), and
    use it from now on: predict, evaluate, the report and exports read it there."""
    if bundle.net.unknown is None or "unknown" not in bundle.meta:
        raise TransferLabError("This model cannot say “I don't know”: it has no threshold to move")
    if not math.isfinite(threshold) or threshold <= 0:
        raise TransferLabError(f"An unknown score threshold must be a positive number, not {threshold}")
    meta = read_meta(bundle.run_dir)
    described = meta.get("unknown") or {}
    described.setdefault("trained_threshold", described.get("threshold"))
    meta["unknown"] = {**described, "threshold": float(threshold)}
    atomic_write_json(bundle.run_dir / META_FILE, meta)
    bundle.meta["unknown"] = {**bundle.meta["unknown"], "threshold": float(threshold),
                              "trained_threshold": described["trained_threshold"]}
    bundle.net.unknown.threshold = float(threshold)
