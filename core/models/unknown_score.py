""""I don't know": how unlike the labelled images an image looks, read off the features the classifier sees.

The score is the Mahalanobis distance of an image's feature vector to the nearest class mean (Lee et al.,
NeurIPS 2018), squared and divided by the number of features (about 1 for an image like the labelled ones;
higher means less like anything the model learnt from). The covariance is shared by the classes and shrunk
halfway towards its average variance: with fewer images than feature dimensions it cannot be inverted as it is.
On bench.unknown's 18 pairs of real sets (bench/results/unknown-*.md) it separated images of no class from the
known ones best, worst pair included, on tf_efficientnet_lite0's earlier level (``first_column``: a two-level
classifier's features end with them; core.training.unknown_reference): AUROC 0.886 where the softmax's top
probability gave 0.845, the same distance on both levels 0.742 and the distance to the nearest labelled image
0.885 (photo crops against faces).

Its threshold is the ACCEPTED quantile of scores of labelled images, each scored by a detector fitted without it.
Where training left the features as they were (a frozen backbone), those are all labelled images, in FOLDS-fold
cross-validation: they outnumber the validation ones five to one, which steadies it. Where training changed the
features (fine-tuning), the training images' features fit them better than a new image's will, so the validation
images (``held``) set it, scored by a detector fitted on the training images alone. The network carries the score
as a submodule (``TransferNet.unknown``): the class means and the whitening matrix go into the bundle's weights
file (4 x features^2 bytes: 50 KB for lite0's 112 earlier features, 6.6 MB for its 1,280 final ones) and into
exported files, as a second output.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

ACCEPTED = 0.95  # the share of held-out known images under the threshold. On bench.unknown's sets, images held out
# of the training folders were accepted 94.8-97.2%; raising the threshold by a fifth (as an earlier version did) gave
# up to 99%, over the 95% +- 3%. Images from another source (crops of other parts of the same photos,
# typefaces never trained on) score higher: 47-95% accepted; the Results page shows this and lets the user move it
MIN_HELD = 20  # validation images needed to set the threshold of a fine-tuned model on them (else cross-validation)
SHRINK = 0.5  # the covariance's weight against its average variance times the identity (bench.unknown)
FOLDS = 5
MAX_SPREAD_IMAGES = 500  # images the covariance and the threshold are measured on (all, up to this: the
# eigen-decomposition grows with their cube)
UNKNOWN_LABEL = "unknown"  # what predict --reject labels an image of none of the classes


class UnknownScore(nn.Module):
    """Features (N, first_column + D) -> (N,) squared Mahalanobis distance of their last D columns to the nearest
    class mean, divided by D."""

    def __init__(self, means: torch.Tensor, whitening: torch.Tensor, threshold: float = float("inf"),
                 first_column: int = 0) -> None:
        super().__init__()
        self.register_buffer("whitening", whitening.float())  # (D, D): ||(x - m) W||^2 is the squared distance
        self.register_buffer("means", (means.double() @ whitening.double()).float())  # (K, D), whitened
        self.threshold, self.first_column = float(threshold), int(first_column)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = features[:, self.first_column:].float() @ self.whitening
        # differences first, then squares: expanding the square would lose digits to cancellation
        return (z[:, None, :] - self.means[None]).pow(2).sum(-1).min(1).values / self.whitening.shape[0]

    def describe(self) -> dict:
        """What the bundle's description says of it (its numbers travel in the weights file)."""
        return {"method": "Mahalanobis distance to the nearest class mean, squared, per feature",
                "threshold": self.threshold, "classes": int(self.means.shape[0]),
                "features": int(self.whitening.shape[0]), "first_column": self.first_column}


class _Fitted:
    """Class means and the shrunk shared covariance in low-rank form (the eigenvectors of the within-class
    spread; with fewer images than features, from the images' Gram matrix: a few hundred square instead of
    1,392), scoring in float64."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.classes = np.unique(y)
        self.means = np.stack([x[y == c].mean(0) for c in self.classes])
        centred = x - self.means[np.searchsorted(self.classes, y)]
        if len(x) < x.shape[1]:  # the images' Gram matrix is the smaller one: its eigenvectors map to the features'
            squares, u = _eigh(centred @ centred.T)
            keep = squares > squares.max(initial=0) * 1e-12
            vt = (centred.T @ u[:, keep] / np.sqrt(squares[keep])).T
        else:
            squares, v = _eigh(centred.T @ centred)
            keep = squares > squares.max(initial=0) * 1e-12
            vt = v[:, keep].T
        spread = squares[keep] / len(x)  # the within-class covariance's eigenvalues along vt's rows
        self.off = SHRINK * max(float(spread.sum()) / x.shape[1], 1e-12)  # its average variance, shrunk
        self.basis, self.values = vt, (1 - SHRINK) * spread + self.off

    def __call__(self, x: np.ndarray) -> np.ndarray:
        px, pm = x @ self.basis.T, self.means @ self.basis.T  # projections onto the spread's span
        squared = (x ** 2).sum(1)[:, None] - 2 * x @ self.means.T + (self.means ** 2).sum(1)[None]  # ||x - m||^2
        inside = ((px[:, None, :] - pm[None]) ** 2 / self.values).sum(-1)
        outside = squared - ((px[:, None, :] - pm[None]) ** 2).sum(-1)  # float64: the difference keeps its digits
        return (inside + np.maximum(outside, 0) / self.off).min(1) / x.shape[1]

    def module(self) -> UnknownScore:
        """The same score as a module: W = V diag(1/sqrt(values)) V^T + (I - V V^T) / sqrt(off)."""
        scale = 1 / np.sqrt(self.values) - 1 / np.sqrt(self.off)
        whitening = (self.basis.T * scale) @ self.basis + np.eye(self.basis.shape[1]) / np.sqrt(self.off)
        return UnknownScore(torch.as_tensor(self.means), torch.as_tensor(whitening))


def _eigh(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """torch's, on one thread: numpy's took 2 s for 400 rows on a busy 2-core machine, torch's on two threads
    up to 7 s for 500 (threads that wait for each other spin), on one 0.03-0.05 s."""
    from core.models.accel import one_thread
    with one_thread():
        values, vectors = torch.linalg.eigh(torch.as_tensor(matrix))
    return values.numpy(), vectors.numpy()


def _folds(y: np.ndarray, seed: int) -> np.ndarray:
    """Each image's fold: stratified where every class has FOLDS images, else shuffled (a class missing from a
    fold's training part has no mean there; its images then score against the other classes')."""
    from core.data.split import stratified_folds
    if np.bincount(y).min(initial=len(y)) >= FOLDS:
        return np.asarray(stratified_folds(y, FOLDS, seed))
    return np.random.default_rng(seed).permutation(len(y)) % FOLDS


def fit_unknown_score(features, labels, accepted: float = ACCEPTED, seed: int = 0, held=None,
                      first_column: int = 0) -> tuple[UnknownScore, dict]:
    """The score of the labelled images' ``features`` (one row per image) and ``labels``, and its threshold: the
    ``accepted`` quantile of their cross-validated scores, or, given ``held`` (True for the rows training did not
    learn from, where training changed the features) and at least MIN_HELD of them, of those rows' scores under the
    detector, which then learns from the other rows alone. Returns the module and what was measured. The
    covariance and the threshold come from at most MAX_SPREAD_IMAGES of them (a seeded random choice), the class
    means from all. Only the columns from ``first_column`` on are read (a network's earlier-level features, after
    its final ones)."""
    x, y = np.asarray(features, dtype=np.float64)[:, first_column:], np.asarray(labels, dtype=np.int64)
    if len(x) < FOLDS:
        raise ValueError(f"an unknown score needs at least {FOLDS} labelled images")
    rng = np.random.default_rng(seed)
    held = None if held is None else np.asarray(held, dtype=bool)
    by_validation = held is not None and held.sum() >= MIN_HELD and len(np.unique(y[~held])) == len(np.unique(y))
    pool = np.flatnonzero(~held) if by_validation else np.arange(len(x))  # what the detector learns from
    some = np.sort(rng.choice(pool, MAX_SPREAD_IMAGES, replace=False)) if len(pool) > MAX_SPREAD_IMAGES else pool
    xs, ys = x[some], y[some]
    fitted = _Fitted(xs, ys)
    fitted.classes = np.unique(y)  # every class has its mean, a rare one left out of the sample too
    fitted.means = np.stack([x[pool][y[pool] == c].mean(0) for c in fitted.classes])
    if by_validation:  # the detector a new image meets, on images it did not learn from
        scores = fitted(x[held])
    else:
        fold = _folds(ys, seed)
        scores = np.empty(len(xs))
        for k in range(FOLDS):
            part = fold == k
            scores[part] = _Fitted(xs[~part], ys[~part])(xs[part])
    source = "validation" if by_validation else "cross-validation"
    scorer = fitted.module()
    scorer.first_column = int(first_column)
    scorer.threshold = float(np.quantile(scores, accepted, method="higher"))
    return scorer, {**scorer.describe(), "accepted": float(np.mean(scores <= scorer.threshold)),
                    "scored_images": len(x), "threshold_from": source, "threshold_images": len(scores),
                    "trained_threshold": scorer.threshold,  # the threshold stays movable (Results page); this not
                    "held_out_scores": np.sort(scores).tolist()}  # what set it (<= 500 numbers, exact: one is it)


def empty_unknown_score(description: dict) -> UnknownScore:
    """A module of the described shape for a saved model's numbers to be loaded into (core.models.bundle)."""
    d = description["features"]
    return UnknownScore(torch.zeros(description["classes"], d), torch.eye(d), description["threshold"],
                        description.get("first_column", 0))
