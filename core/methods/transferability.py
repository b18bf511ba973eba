"""How well frozen features fit a labelling, without training the network: LogME, a linear probe, Kendall's tau.

* :func:`logme` -- You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer
  Learning" (ICML 2021): the log marginal likelihood (evidence) of a Bayesian linear regression
  from the features to each one-vs-rest label, maximised over the prior precision alpha and the
  noise precision beta, per sample, averaged over classes. Higher is better; only comparisons
  between feature sets on the same images mean anything.
* :func:`linear_probe_accuracy` -- cross-validated accuracy of an L2-regularised multinomial
  logistic regression on standardised features (what "feature extraction" would reach).
* :func:`kendall_tau` -- tau-b rank correlation, to check that two orders agree.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from core.data.split import stratified_folds
from core.models.accel import one_thread

PROBE_L2 = 1e-2  # weight of 0.5 * ||W||^2 next to the mean cross-entropy (standardised features)
_FLOOR = 1e-5  # keeps alpha and beta finite when the fit or the weights are exactly zero


def _as_arrays(features, labels) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if f.ndim != 2 or len(f) != len(y):
        raise ValueError(f"features must be (N, D) with one label per row; got {f.shape} and {y.shape}")
    if not np.isfinite(f).all():
        raise ValueError("features contain NaN or infinite values")
    return f, np.unique(y, return_inverse=True)[1].reshape(-1)


def _spectrum(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero eigenvalues ``sigma`` of F'F (squared singular values of F) and the matching
    left singular vectors ``u`` (N, k), from whichever Gram matrix is smaller."""
    n, d = f.shape
    if n <= d:
        sigma, u = np.linalg.eigh(f @ f.T)
    else:
        sigma, v = np.linalg.eigh(f.T @ f)
        u = None
    keep = sigma > max(sigma.max(initial=0.0) * 1e-10, 1e-20)  # the rest is rounding noise
    sigma = sigma[keep]
    if u is None:
        u = f @ v[:, keep] / np.sqrt(sigma)
    else:
        u = u[:, keep]
    return sigma, u


def _evidence(sigma: np.ndarray, x2: np.ndarray, outside: float, n: int, max_iter: int = 200) -> float:
    """Maximum log evidence per sample of y ~ N(F w, 1/beta), w ~ N(0, 1/alpha), given the
    spectrum ``sigma`` of F'F, the squared projections ``x2`` of y on F's left singular vectors and
    ``outside``, the squared norm of the part of y outside F's column space (MacKay's updates)."""
    k = len(sigma)
    if k == 0:  # no usable features: only the noise model is left
        return _noise_only(outside, n)

    def fit_terms(t: float) -> tuple[float, float, float]:
        gamma = float(np.sum(sigma / (sigma + t)))  # effective number of parameters
        m2 = float(np.sum(sigma * x2 / (sigma + t) ** 2))  # ||m||^2, m the posterior mean weights
        res2 = float(np.sum(x2 * (t / (sigma + t)) ** 2)) + outside  # ||F m - y||^2
        return gamma, m2, res2

    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        t = alpha / beta
        gamma, m2, res2 = fit_terms(t)
        alpha, beta = gamma / (m2 + _FLOOR), (n - gamma) / (res2 + _FLOOR)
        if abs(alpha / beta - t) <= 1e-7 * t:
            break
    _, m2, res2 = fit_terms(alpha / beta)  # the evidence terms at the final alpha and beta
    # log|A| over all D dimensions = sum(log(alpha + beta * sigma)) + (D - k) log(alpha); the D - k
    # terms cancel against D/2 log(alpha), leaving k/2 log(alpha) (cf. thuml/LogME issue #23).
    evidence = (0.5 * k * math.log(alpha) + 0.5 * n * math.log(beta)
                - 0.5 * float(np.sum(np.log(alpha + beta * sigma))) - 0.5 * beta * res2 - 0.5 * alpha * m2
                - 0.5 * n * math.log(2 * math.pi)) / n
    # The updates creep towards a maximum on the boundary alpha -> infinity (the weights add nothing):
    # the evidence of that limit, y ~ N(0, 1/beta) alone, is known in closed form.
    return max(evidence, _noise_only(float(x2.sum()) + outside, n))


def _noise_only(y2: float, n: int) -> float:
    """Maximum log evidence per sample of y ~ N(0, 1/beta), ``y2`` = ||y||^2."""
    beta = n / (y2 + _FLOOR)
    return (0.5 * n * math.log(beta) - 0.5 * beta * y2 - 0.5 * n * math.log(2 * math.pi)) / n


def logme(features, labels) -> float:
    """LogME of ``features`` (N, D) for class ``labels`` (N,): mean over classes of the maximum
    log evidence per sample of a linear regression onto the one-vs-rest target. Higher is better."""
    f, y = _as_arrays(features, labels)
    n = len(f)
    if n == 0:
        raise ValueError("LogME needs at least one sample")
    sigma, u = _spectrum(f)
    scores = []
    for c in range(int(y.max()) + 1):
        target = (y == c).astype(np.float64)
        x = u.T @ target
        x2 = x * x
        outside = max(float(target @ target) - float(x2.sum()), 0.0)
        scores.append(_evidence(sigma, x2, outside, n))
    return float(np.mean(scores))


# -- linear probe ------------------------------------------------------------------------------------

def _standardise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    mean, std = train.mean(0), train.std(0, unbiased=False)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant features become zero
    return [(t - mean) / std for t in (train, *others)]


def fit_predict(train_x, train_y, test_x, l2: float = PROBE_L2, max_iter: int = 100) -> np.ndarray:
    """Fit a multinomial logistic regression (L2 weight ``l2``, full-batch L-BFGS from zero, so
    deterministic) on standardised ``train_x``; return the predicted class index for ``test_x``."""
    with one_thread():
        return _fit_predict(train_x, train_y, test_x, l2, max_iter)


def _fit_predict(train_x, train_y, test_x, l2: float, max_iter: int) -> np.ndarray:
    x, test = _standardise(torch.as_tensor(np.asarray(train_x), dtype=torch.float32),
                           torch.as_tensor(np.asarray(test_x), dtype=torch.float32))
    y = torch.as_tensor(np.asarray(train_y), dtype=torch.long)
    classes = int(y.max()) + 1
    weight = torch.zeros(x.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20,
                                  tolerance_grad=1e-5, tolerance_change=1e-7, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight + bias, y) + 0.5 * l2 * (weight * weight).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    with torch.no_grad():
        return (test @ weight + bias).argmax(1).numpy()


def holdout_accuracy(train_x, train_y, test_x, test_y, l2: float = PROBE_L2) -> float:
    """Accuracy on (``test_x``, ``test_y``) of the linear probe fitted on the training pair."""
    predicted = fit_predict(train_x, train_y, test_x, l2)
    return float(np.mean(predicted == np.asarray(test_y)))


def linear_probe_accuracy(features, labels, folds: int = 5, seed: int = 0, l2: float = PROBE_L2) -> float:
    """Cross-validated accuracy of the linear probe; folds are stratified, seeded, and fewer
    when the smallest class has fewer than ``folds`` samples. A class with a single sample cannot be
    both learnt from and tested, so it is left out; a ValueError when fewer than 2 classes have 2."""
    f, y = _as_arrays(features, labels)
    counts = np.bincount(y) if len(y) else np.zeros(0, dtype=np.int64)
    usable = np.flatnonzero(counts >= 2)
    if len(usable) < 2:
        raise ValueError("the linear probe needs at least 2 classes with 2 samples each")
    keep = np.isin(y, usable)
    f, y = f[keep], np.searchsorted(usable, y[keep])  # classes renumbered 0..k-1
    folds = max(2, min(folds, int(counts[usable].min())))
    fold_of = stratified_folds(y, folds, seed)
    correct = 0
    for k in range(folds):
        test = fold_of == k
        predicted = fit_predict(f[~test], y[~test], f[test], l2)
        correct += int(np.sum(predicted == y[test]))
    return correct / len(y)


# -- rank agreement ----------------------------------------------------------------------------------

def kendall_tau(a, b) -> float:
    """Kendall's tau-b between two equally long sequences of scores (ties allowed); NaN when
    either sequence is constant or shorter than 2."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("kendall_tau needs two 1-D sequences of the same length")
    i, j = np.triu_indices(len(a), k=1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    untied_a, untied_b = np.count_nonzero(da), np.count_nonzero(db)
    if untied_a == 0 or untied_b == 0:
        return float("nan")
    return float(np.sum(da * db) / math.sqrt(untied_a * untied_b))
