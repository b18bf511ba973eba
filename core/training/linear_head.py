"""A linear classifier on frozen features, fitted to convergence rather than for a number of epochs.

Multinomial logistic regression with an L2 penalty (``0.5 * l2 * ||W||^2`` next to the mean
cross-entropy), full-batch L-BFGS in float64 on centred features scaled to unit RMS spread. The
penalty's strength is chosen by stratified cross-validation on the training images only: a path from strong to weak, each
fit warm-started from the one before. With fewer images than feature dimensions each fit runs in the
span of its training features, an exact reparametrisation (the penalty is rotation-invariant, and at
the optimum the weights have no component outside that span) that makes it several times cheaper.

The result maps back to the raw feature space, so the head stays an ordinary ``nn.Linear`` that
bundles, prediction and export use as before. All of it takes seconds on cached features.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.base.cancel import CancelToken, check
from core.base.errors import TransferLabError
from core.data.split import stratified_folds
from core.models.accel import one_thread
from core.training.events import TrainCallback
from core.training.feature_cache import TensorSet

if TYPE_CHECKING:
    from core.training.run_setup import Run

L2_PATH = (10.0, 1.0, 0.1, 0.01, 1e-3, 1e-4)  # strong to weak (half-decade steps chose no better on the bench)
MAX_ITER = 200
GRAD_TOLERANCE = 1e-5  # on the largest gradient entry of the mean loss, for the fit that is kept
CV_TOLERANCE = 1e-4  # for cross-validation's fits, which only rank strengths: 35% faster, the same ranking
# ...and at most this many L-BFGS steps per strength (each fit starts from the one before it): the same held-out
# accuracy on bench.quality's 7 sets, with 30% of labels flipped, and with 5 images per class (one set +4
# points, one -0.7), in half the time or less where labels are noisy; and a fit's length no longer hangs on how
# the images separate (200 glyphs took 1.7x as long as 195 photo crops, now about as long): Auto's plan holds
CV_MAX_ITER = 15
FOLDS = 5  # 3 from LARGE_ROWS rows on: enough images per fold, and 40% less time
LARGE_ROWS = 600
SMALL_PROBLEM = 200_000  # rows x dimensions below which one thread is faster than two


@dataclass
class LinearFit:
    weight: np.ndarray  # (K, D), for raw (unstandardised) features
    bias: np.ndarray  # (K,)
    l2: float
    cv_accuracy: float | None = None  # of the chosen strength (None when it was not cross-validated)
    cv_loss: float | None = None
    path: list[dict] = field(default_factory=list)  # {l2, accuracy, loss} per strength tried
    seconds: float = 0.0

    def logits(self, features) -> np.ndarray:
        return np.asarray(features, dtype=np.float64) @ self.weight.T + self.bias

    def probabilities(self, features) -> np.ndarray:
        """The softmax of :meth:`logits`, one row per image."""
        logits = self.logits(features)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def to_linear(self, linear: torch.nn.Linear) -> None:
        """Copy the fit into ``linear`` (its shape must match)."""
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(self.weight, dtype=linear.weight.dtype))
            linear.bias.copy_(torch.as_tensor(self.bias, dtype=linear.bias.dtype))


class _Problem:
    """One training set, standardised and (when N < D) projected onto its span."""

    def __init__(self, x: np.ndarray, y: np.ndarray, classes: int, sample_weight: np.ndarray | None) -> None:
        x = torch.as_tensor(x, dtype=torch.float64)
        # Centred, and scaled by one number (the features' RMS spread), not per feature: per-feature
        # standardisation lifts near-silent channels to the loudness of informative ones, and was 5
        # points worse on held-out photo crops (bench.quality); one scale keeps the strength grid meaningful.
        self.mean = x.mean(0)
        spread = float(x.var(0, unbiased=False).mean().sqrt()) if len(x) > 1 else 1.0
        self.std = torch.full_like(self.mean, spread if spread > 1e-12 else 1.0)
        z = (x - self.mean) / self.std
        self.basis = None
        if z.shape[0] < z.shape[1]:
            _, s, vh = torch.linalg.svd(z, full_matrices=False)
            keep = s > s[0] * 1e-10 if len(s) else s > 0
            self.basis = vh[keep].T  # (D, r)
            z = z @ self.basis
        self.z, self.y, self.classes = z, torch.as_tensor(y, dtype=torch.long), classes
        w = torch.ones(len(y), dtype=torch.float64) if sample_weight is None else \
            torch.as_tensor(sample_weight, dtype=torch.float64)
        self.w = w / w.sum()

    def fit(self, l2: float, start: tuple[torch.Tensor, torch.Tensor] | None,
            tolerance: float = GRAD_TOLERANCE, max_iter: int = MAX_ITER) -> tuple[torch.Tensor, torch.Tensor]:
        dims = self.z.shape[1]
        weight = (start[0].clone() if start else torch.zeros(dims, self.classes, dtype=torch.float64))
        bias = (start[1].clone() if start else torch.zeros(self.classes, dtype=torch.float64))
        optimiser = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20,
                                      tolerance_grad=tolerance, tolerance_change=1e-9,
                                      line_search_fn="strong_wolfe")
        onehot = torch.nn.functional.one_hot(self.y, self.classes).to(torch.float64)
        z_t, row_w = self.z.T.contiguous(), self.w[:, None]

        def closure() -> torch.Tensor:  # the loss and its gradient in closed form: a quarter faster than autograd
            log_p = torch.log_softmax(torch.addmm(bias, self.z, weight), 1)
            loss = -(log_p * onehot).sum(1).dot(self.w) + 0.5 * l2 * weight.pow(2).sum()
            residual = (log_p.exp() - onehot) * row_w  # d loss / d logits
            weight.grad = torch.addmm(weight, z_t, residual, beta=l2)
            bias.grad = residual.sum(0)
            return loss

        optimiser.step(closure)
        return weight, bias

    def coordinates(self, weight: np.ndarray, bias: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The inverse of :meth:`raw`: (K, D) raw weights and (K,) bias as this problem's start (the part
        outside the span of its features, which no training image sees, is dropped)."""
        w = torch.as_tensor(weight, dtype=torch.float64).T  # (D, K)
        b = torch.as_tensor(bias, dtype=torch.float64) + self.mean @ w
        w = w * self.std[:, None]
        return (w if self.basis is None else self.basis.T @ w).contiguous(), b

    def raw(self, weight: torch.Tensor, bias: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(K, D) weights and (K,) bias acting on raw features."""
        full = weight if self.basis is None else self.basis @ weight  # (D, K)
        scaled = full / self.std[:, None]
        return scaled.T.numpy().copy(), (bias - self.mean @ scaled).numpy().copy()


def averaged(parts: list[tuple[int, LinearFit]], width: int) -> LinearFit:
    """One linear head on ``width`` columns whose scores are the mean of several fits' scores, each fitted on
    the columns from its first index on: on a network's final features with an earlier level's beside them,
    the classifier on both and the one on the earlier level alone (their logits averaged: held-out +0 to +3.8
    points over the first alone on bench.tta_ensemble's seven sets, never fewer). The first fit's strength and
    cross-validated numbers describe it."""
    first = parts[0][1]
    weight, bias = np.zeros((first.weight.shape[0], width)), np.zeros_like(first.bias, dtype=np.float64)
    for start, fit in parts:
        weight[:, start:] += fit.weight / len(parts)
        bias += fit.bias / len(parts)
    return LinearFit(weight, bias, first.l2, first.cv_accuracy, first.cv_loss, first.path,
                     sum(fit.seconds for _, fit in parts))


def head_parts(net) -> list[int]:
    """Where each averaged fit's columns start in ``net``'s head: [0], or [0, final width] for a network whose
    head sees an earlier level's features beside the final ones (core.models.network.TransferNet.with_level)."""
    from core.models.network import final_width
    return [0] if getattr(net, "with_level", None) is None else [0, final_width(net.backbone)]


def _scores(logits: np.ndarray, y: np.ndarray) -> tuple[int, float]:
    """(how many right, summed cross-entropy)."""
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return int((logits.argmax(1) == y).sum()), float(-log_p[np.arange(len(y)), y].sum())


def fit_linear(features, labels, classes: int | None = None, l2: float | None = None,
               groups=None, sample_weight=None, folds: int = FOLDS, seed: int = 0,
               path: tuple[float, ...] = L2_PATH, cancel: CancelToken | None = None,
               start: tuple[np.ndarray, np.ndarray] | None = None) -> LinearFit:
    """Fit the classifier on (``features``, ``labels``); ``l2=None`` chooses it by cross-validation.

    ``groups``: rows that are views of one image share a group and a fold (default: one row each).
    ``sample_weight``: per-row weights of the cross-entropy (class weights), normalised to sum 1.
    ``start``: raw (weight, bias) near the answer, e.g. a fit on most of these rows at this ``l2``: the
    fit starts there at ``l2`` instead of walking the path from strong to weak (the same optimum, in
    a fraction of the time). Without it, cross-validation's fold solutions at the chosen strength,
    averaged, are the start."""
    started = time.perf_counter()
    x, y = np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    classes = int(classes if classes is not None else y.max() + 1)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    threads = one_thread() if x.size < SMALL_PROBLEM else contextlib.nullcontext()
    if len(y) >= LARGE_ROWS:
        folds = min(folds, 3)
    with threads:
        tried: list[dict] = []
        if l2 is None:
            solutions: dict[float, list] = {}
            tried = cross_validate(x, y, classes, groups, weights, folds, seed, path, cancel, solutions)
            best = choose(tried)
            l2 = best["l2"] if best else path[len(path) // 2]
            if solutions.get(l2):
                start = tuple(np.mean([s[i] for s in solutions[l2]], axis=0) for i in (0, 1))
        problem = _Problem(x, y, classes, weights)
        if start is not None:
            solution = problem.fit(l2, problem.coordinates(*start))
        else:
            solution = None
            for strength in [s for s in path if s > l2] + [l2]:  # the same warm-started path as in the folds
                solution = problem.fit(strength, solution)
        weight, bias = problem.raw(*solution)
    chosen = next((t for t in tried if t["l2"] == l2), None)
    return LinearFit(weight, bias, float(l2), chosen and chosen["accuracy"], chosen and chosen["loss"], tried,
                     time.perf_counter() - started)


def choose(tried: list[dict]) -> dict | None:
    """The strength with the best cross-validated accuracy; among equals, the lowest cross-entropy."""
    return min(tried, key=lambda t: (-t["accuracy"], t["loss"])) if tried else None


def cross_validate(x: np.ndarray, y: np.ndarray, classes: int, groups, weights, folds: int, seed: int,
                   path: tuple[float, ...], cancel: CancelToken | None = None,
                   solutions: dict | None = None) -> list[dict]:
    """Accuracy and mean cross-entropy of each strength of ``path`` over stratified folds of images;
    ``solutions``, when given, collects each fold's raw (weight, bias) per strength."""
    group_of = np.arange(len(y)) if groups is None else np.asarray(groups)
    first = {g: i for i, g in reversed(list(enumerate(group_of)))}  # each group's first row gives its label
    unique = np.array(sorted(first))
    group_labels = y[[first[g] for g in unique]]
    smallest = int(np.bincount(group_labels, minlength=classes)[np.unique(group_labels)].min())
    folds = min(folds, smallest)
    if folds < 2:
        return []
    fold_of_group = dict(zip(unique.tolist(), stratified_folds(group_labels, folds, seed).tolist()))
    fold_of = np.array([fold_of_group[g] for g in group_of.tolist()])
    right = np.zeros(len(path))
    loss = np.zeros(len(path))
    for k in range(folds):
        test, train = fold_of == k, fold_of != k
        problem = _Problem(x[train], y[train], classes, None if weights is None else weights[train])
        start = None
        for i, strength in enumerate(path):
            check(cancel)
            start = problem.fit(strength, start, CV_TOLERANCE, CV_MAX_ITER)
            weight, bias = problem.raw(*start)
            if solutions is not None:
                solutions.setdefault(strength, []).append((weight, bias))
            r, l_sum = _scores(x[test] @ weight.T + bias, y[test])
            right[i] += r
            loss[i] += l_sum
    return [{"l2": s, "accuracy": right[i] / len(y), "loss": loss[i] / len(y)} for i, s in enumerate(path)]


def cached_rows(tensors: TensorSet, views: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, image index) with one row per view of each image (the first ``views``)."""
    views = tensors.views if views is None else views
    x = np.asarray(tensors.data[:views], dtype=np.float32).reshape(views * len(tensors), -1)
    return x, np.tile(tensors.labels.numpy(), views), np.tile(np.arange(len(tensors)), views)


def row_weights(class_weights: list[float] | None, y: np.ndarray) -> np.ndarray | None:
    return None if class_weights is None else np.asarray(class_weights, dtype=np.float64)[y]


def fit_run_classifier(run: Run, cb: TrainCallback, cancel: CancelToken | None) -> tuple[int, int, float]:
    """A run's epoch when its classifier is fitted to convergence: the head fitted on every cached view of
    every training image (views of one image share a cross-validation fold). Returns (rows, rows right,
    summed cross-entropy) for the trainer's epoch record; what was chosen goes into the engine's details."""
    train = getattr(run.engine, "train", None)
    if run.engine.details.get("cache") != "features" or train is None:
        raise TransferLabError("Fitting the classifier to convergence needs cached features of a frozen backbone")
    cb.on_status("Fitting the classifier in one go on the features computed once; how strongly it is kept from "
                 "memorising is chosen by cross-validation on the training images…")
    check(cancel)
    x, y, groups = cached_rows(train)
    head = run.net.head
    run.classifier_parts = [(start, fit_linear(x[:, start:], y, head.out_features, groups=groups,
                                               sample_weight=row_weights(run.class_weights, y), seed=run.settings.seed,
                                               cancel=cancel)) for start in head_parts(run.net)]
    fit = averaged(run.classifier_parts, x.shape[1])  # one part: that fit itself
    fit.to_linear(head)
    head.to(run.device)
    right, loss = _scores(fit.logits(x), y)
    run.engine.details["classifier"] = {"solver": "L-BFGS to convergence", "l2": fit.l2, "cv_accuracy": fit.cv_accuracy,
                                        "cv_loss": fit.cv_loss, "seconds": round(fit.seconds, 2), "path": fit.path}
    if len(run.classifier_parts) > 1:
        run.engine.details["classifier"]["parts"] = [{"from_column": start, "l2": part.l2,
                                                      "cv_accuracy": part.cv_accuracy}
                                                     for start, part in run.classifier_parts]
        cv = [part.cv_accuracy for _, part in run.classifier_parts]
        cb.on_status("Two classifiers fitted in one go, one on the final and earlier-layer features together and "
                     "one on the earlier layer's alone; the model averages their scores"
                     + (f" (cross-validated accuracy on the training images {cv[0]:.1%} and {cv[1]:.1%}, "
                        f"{fit.seconds:.1f} s)" if None not in cv else ""))
    elif fit.cv_accuracy is not None:
        cb.on_status(f"Classifier fitted (held back with strength {fit.l2:g}, cross-validated accuracy on the "
                     f"training images {fit.cv_accuracy:.1%}, {fit.seconds:.1f} s)")
    return len(y), right, loss
