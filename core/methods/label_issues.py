"""Likely label mistakes: the images whose given class the model finds unlikely.

Every labelled image gets a probability per class from a classifier that never saw it: the converged linear
classifier (core.training.linear_head) on the frozen network's features, fitted on the other folds of a
stratified k-fold split (one strength, chosen by cross-validation on all rows, as a run chooses it). Confident
learning (Northcutt, Jiang & Chuang, JAIR 2021; cleanlab's ``filter_by="confident_learning"``) then flags an
image when some other class is confidently more likely: its probability reaches that class's threshold (the
mean probability of the class over the images labelled with it) and is the highest such. Flagged images come
worst first: lowest probability of the given class ("self-confidence", cleanlab's default ranking).
tests/test_label_issues.py checks the flags against cleanlab's own on the same probabilities.

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


@dataclass
class LabelIssue:
    path: str
    given: str  # the class its folder says
    suggested: str  # the class the model finds most likely
    given_probability: float  # out of fold: from a classifier that did not see this image
    suggested_probability: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LabelIssues:
    issues: list[LabelIssue]  # worst first
    images: int  # how many labelled images were checked
    folds: int
    unreadable: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"issues": [i.to_dict() for i in self.issues], "images": self.images, "folds": self.folds,
                "unreadable": self.unreadable}


def out_of_fold_probabilities(x: np.ndarray, y: np.ndarray, classes: int, folds: int = FOLDS, seed: int = 0,
                              cancel: CancelToken | None = None) -> np.ndarray:
    """(n, classes) probabilities, each row from the classifier fitted on the other folds."""
    from core.training.linear_head import fit_linear
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)
    smallest = int(np.bincount(y, minlength=classes)[np.unique(y)].min())
    folds = min(folds, smallest)
    if folds < 2:
        raise TransferLabError("Finding label mistakes needs at least 2 images in every class")
    l2 = fit_linear(x, y, classes, seed=seed, cancel=cancel).l2  # the strength, chosen once on every row
    fold_of = stratified_folds(y, folds, seed)
    probabilities = np.zeros((len(y), classes))
    for k in range(folds):
        check(cancel)
        held = fold_of == k
        probabilities[held] = fit_linear(x[~held], y[~held], classes, l2=l2, seed=seed,
                                         cancel=cancel).probabilities(x[held])
    return probabilities


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


def find_label_issues(scan: DatasetScan, model_name: str = "tf_efficientnet_lite0", image_size: int | None = None,
                      folds: int = FOLDS, seed: int = 0, progress: Progress | None = None,
                      cancel: CancelToken | None = None) -> LabelIssues:
    """Likely label mistakes among ``scan``'s labelled images (a pre-split set's test images excluded) by
    the frozen ``model_name``'s features (bundled ImageNet weights where there are some)."""
    from core.methods.pooled_features import labelled_items
    from core.models.weights import create_backbone
    from core.training.frozen_pass import frozen_features
    from core.training.settings import TrainSettings
    scan.require_trainable()
    items = labelled_items(scan)
    settings = TrainSettings(model_name=model_name, image_size=image_size)
    model = create_backbone(model_name).model
    seen = frozen_features(settings, model, items, None, progress=within(progress, 0, 90, 100), cancel=cancel)
    read = len(seen.labels)
    if read < len(items):  # the pass leaves unreadable images out, in order: match the rest by position
        raise TransferLabError(f"{len(items) - read} image(s) could not be read; check the dataset report first")
    report(progress, 90, 100, "Checking each image's label against the other images")
    probabilities = out_of_fold_probabilities(seen.final, seen.labels, len(scan.classes), folds, seed, cancel)
    order, suggested = confident_issues(seen.labels, probabilities)
    report(progress, 100, 100, "Done")
    return LabelIssues([LabelIssue(str(items[i].path), scan.classes[items[i].label], scan.classes[s],
                                   float(probabilities[i, items[i].label]), float(probabilities[i, s]))
                        for i, s in zip(order.tolist(), suggested.tolist())], read, folds)
