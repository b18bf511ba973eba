"""Likely label mistakes: the images whose given class the model finds unlikely.

Every labelled image gets a probability per class from a classifier that never saw it: the converged linear
classifier (core.training.linear_head) on the frozen network's features, fitted on the other folds of a
stratified k-fold split (one strength, chosen by cross-validation on all rows, as a run chooses it). Where the
classifier on the final and an earlier level's features side by side cross-validates better than the one on the
final level alone, the probabilities come from both levels, as Auto's "both" classifier (probabilities_by_evidence).
Confident
learning (Northcutt, Jiang & Chuang, JAIR 2021; cleanlab's ``filter_by="confident_learning"``) then flags an
image when some other class is confidently more likely: its probability reaches that class's threshold (the
mean probability of the class over the images labelled with it) and is the highest such; and besides those,
every image whose given class is far less likely than its most likely one (likely_mistakes). Flagged images come
worst first: lowest probability of the given class ("self-confidence", cleanlab's default ranking).
tests/test_label_issues.py checks the flags against cleanlab's own on the same probabilities. Each flag carries
what accepting it does (action_for): relabel as suggested when the model gives the suggested class at least
RELABEL_FROM, otherwise exclude the image.

Nothing is written: the folder is only read, and the result is a list to act on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from core.base.cancel import CancelToken, check
from core.base.errors import TransferLabError
from core.base.progress import Progress, report, within
from core.data.dataset import DatasetScan
from core.data.split import stratified_folds

FOLDS = 5
# An image is also flagged where its given class has at most this share of the most likely class's probability.
# Confident learning alone missed flipped labels the model gave 0-14% against 30-70% for the true class (no
# class reached its threshold, the mean probability of its own images): 3-4 of 20 on the 195 photo crops, 5-10
# of 20 on the glyphs, ~35 of 332 on the 3,315 photo crops (bench.label_noise, 3 seeds). At 0.2 it adds
# those with 0-1 correct labels on the photo crops and 1-2 on the glyphs (where correct labels reach 0.09-0.13).
FAR_LESS_LIKELY = 0.2
RELABEL_FROM = 0.5  # suggested class's probability from which accepting relabels; below, it excludes (bench)


def action_for(suggested_probability: float) -> str:
    """What accepting a suggestion should do: relabel as suggested when the model is this sure of the
    suggested class, otherwise exclude the image (its given label is unlikely, but the right one unclear)."""
    return "relabel" if suggested_probability >= RELABEL_FROM else "exclude"


@dataclass
class LabelIssue:
    path: str
    given: str  # the class its folder says
    suggested: str  # the class the model finds most likely
    given_probability: float  # out of fold: from a classifier that did not see this image
    suggested_probability: float
    action: str = "relabel"  # what accepting the suggestion does: "relabel" as suggested, or "exclude" the image

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LabelIssues:
    issues: list[LabelIssue]  # worst first
    images: int  # how many labelled images were checked
    folds: int
    unreadable: list[str] = field(default_factory=list)
    level: str = "final"  # the features judged by: "final", or "both" (final and an earlier level)

    def to_dict(self) -> dict:
        return {"issues": [i.to_dict() for i in self.issues], "images": self.images, "folds": self.folds,
                "unreadable": self.unreadable, "level": self.level}


def out_of_fold_probabilities(x: np.ndarray, y: np.ndarray, classes: int, folds: int = FOLDS, seed: int = 0,
                              cancel: CancelToken | None = None, earlier: np.ndarray | None = None) -> np.ndarray:
    """(n, classes) probabilities, each row from the classifier fitted on the other folds. ``earlier``: an
    earlier level's features of the same images; then the classifier is the one Auto's "both" level fits (one
    on both levels side by side, one on the earlier level alone, their scores averaged)."""
    from core.training.linear_head import fit_linear
    y = np.asarray(y, dtype=np.int64)
    parts = [np.asarray(x, dtype=np.float64)] if earlier is None else _both(x, earlier)
    _enough(y, classes, folds)
    return _out_of_fold([(p, fit_linear(p, y, classes, seed=seed, cancel=cancel)) for p in parts], y, classes, folds,
                        seed, cancel)


def probabilities_by_evidence(final: np.ndarray, earlier: np.ndarray | None, y: np.ndarray, classes: int,
                              folds: int = FOLDS, seed: int = 0,
                              cancel: CancelToken | None = None) -> tuple[np.ndarray, str]:
    """Out-of-fold probabilities from the final level's features, or from both levels (as
    :func:`out_of_fold_probabilities` with ``earlier``) where the classifier on both levels side by side has
    the higher cross-validated accuracy (the one its fit computes to choose its strength); and which: "final"
    or "both". On bench.label_noise's glyphs, unlike ImageNet's photos, the earlier level lifted the top-10%
    recall of flipped labels from 0.68 to 0.9."""
    from core.training.linear_head import fit_linear
    y = np.asarray(y, dtype=np.int64)
    _enough(y, classes, folds)
    final = np.asarray(final, dtype=np.float64)
    alone = fit_linear(final, y, classes, seed=seed, cancel=cancel)
    if earlier is None:
        return _out_of_fold([(final, alone)], y, classes, folds, seed, cancel), "final"
    side_by_side, early = _both(final, earlier)
    together = fit_linear(side_by_side, y, classes, seed=seed, cancel=cancel)
    if (together.cv_accuracy or 0.0) <= (alone.cv_accuracy or 0.0):
        return _out_of_fold([(final, alone)], y, classes, folds, seed, cancel), "final"
    parts = [(side_by_side, together), (early, fit_linear(early, y, classes, seed=seed, cancel=cancel))]
    return _out_of_fold(parts, y, classes, folds, seed, cancel), "both"


def _both(final: np.ndarray, earlier: np.ndarray) -> list[np.ndarray]:
    early = np.asarray(earlier, dtype=np.float64)
    return [np.hstack([np.asarray(final, dtype=np.float64), early]), early]


def _enough(y: np.ndarray, classes: int, folds: int) -> None:
    if min(folds, int(np.bincount(y, minlength=classes)[np.unique(y)].min())) < 2:
        raise TransferLabError("Finding label mistakes needs at least 2 images in every class")


def _out_of_fold(parts: list, y: np.ndarray, classes: int, folds: int, seed: int,
                 cancel: CancelToken | None) -> np.ndarray:
    """The softmax of the averaged scores of each (features, fit on every row) part's classifier refitted, at
    the fit's strength, on the other folds. A fold's fit starts from the one on every row: the problem is
    convex, so it reaches the same optimum, several times sooner than along the strength path."""
    from core.training.linear_head import fit_linear
    folds = min(folds, int(np.bincount(y, minlength=classes)[np.unique(y)].min()))
    fold_of = stratified_folds(y, folds, seed)
    logits = np.zeros((len(y), classes))
    for k in range(folds):
        held = fold_of == k
        for x, whole in parts:
            check(cancel)
            logits[held] += fit_linear(x[~held], y[~held], classes, l2=whole.l2, seed=seed, cancel=cancel,
                                       start=(whole.weight, whole.bias)).logits(x[held]) / len(parts)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def confident_issues(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confident learning's flags: (indices of flagged images worst first, the class each is confidently
    thought to be). An image is flagged when the most likely of the classes whose threshold its probability
    reaches is not its given class."""
    labels, p = np.asarray(labels, dtype=np.int64), np.asarray(probabilities, dtype=np.float64)
    classes = p.shape[1]
    thresholds = np.array([p[labels == j, j].mean() if np.any(labels == j) else 1.0 for j in range(classes)])
    confident = p >= thresholds - 1e-12  # (as cleanlab: a probability at the threshold counts)
    masked = np.where(confident, p, -1.0)
    best = masked.argmax(axis=1)
    flagged = np.flatnonzero(confident.any(axis=1) & (best != labels))
    order = flagged[np.argsort(p[flagged, labels[flagged]], kind="stable")]  # least sure of its label first
    return order, best[order]


def likely_mistakes(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The images to show as possible label mistakes: (indices worst first, the class suggested for each).
    Confident learning's flags (:func:`confident_issues`), and besides them every image whose given class the
    model finds far less likely than its most likely class (at most FAR_LESS_LIKELY of its probability) though
    that class did not reach its threshold. Flags where the model still prefers the given class are dropped: a
    class with very few images has a low threshold, so confident learning flagged correct images ("gravel →
    sand, 12% sure; 58% for gravel", a walkthrough), and accepting excluded them."""
    labels, p = np.asarray(labels, dtype=np.int64), np.asarray(probabilities, dtype=np.float64)
    order, suggested = confident_issues(labels, p)
    given = p[np.arange(len(labels)), labels]
    far = np.flatnonzero((p.argmax(1) != labels) & (given <= FAR_LESS_LIKELY * p.max(1)))
    far = np.setdiff1d(far, order)
    order, suggested = np.concatenate([order, far]), np.concatenate([suggested, p[far].argmax(1)])
    keep = p[order, suggested] > given[order]
    order, suggested = order[keep], suggested[keep]
    worst = np.argsort(given[order], kind="stable")  # least sure of its label first
    return order[worst], suggested[worst]


def find_label_issues(scan: DatasetScan, model_name: str = "tf_efficientnet_lite0", image_size: int | None = None,
                      folds: int = FOLDS, seed: int = 0, progress: Progress | None = None,
                      cancel: CancelToken | None = None) -> LabelIssues:
    """Likely label mistakes among ``scan``'s labelled images (a pre-split set's test images excluded) by
    the frozen ``model_name``'s features (bundled ImageNet weights where there are some)."""
    from core.methods.pooled_features import labelled_items
    from core.models.network import default_cut_index
    from core.models.weights import create_backbone
    from core.training.frozen_pass import frozen_features
    from core.training.settings import TrainSettings
    scan.require_trainable()
    items = labelled_items(scan)
    settings = TrainSettings(model_name=model_name, image_size=image_size)
    model = create_backbone(model_name).model
    seen = frozen_features(settings, model, items, default_cut_index(model), progress=within(progress, 0, 90, 100),
                           cancel=cancel)
    read = len(seen.labels)
    if read < len(items):  # the pass leaves unreadable images out, in order: match the rest by position
        raise TransferLabError(f"{len(items) - read} image(s) could not be read; check the dataset report first")
    report(progress, 90, 100, "Checking each image's label against the other images")
    probabilities, level = probabilities_by_evidence(seen.final, seen.earlier, seen.labels, len(scan.classes),
                                                     folds, seed, cancel)
    order, suggested = likely_mistakes(seen.labels, probabilities)
    report(progress, 100, 100, "Done")
    return LabelIssues([LabelIssue(str(items[i].path), scan.classes[items[i].label], scan.classes[s],
                                   float(probabilities[i, items[i].label]), float(probabilities[i, s]),
                                   action_for(float(probabilities[i, s])))
                        for i, s in zip(order.tolist(), suggested.tolist())], read, folds, level=level)
