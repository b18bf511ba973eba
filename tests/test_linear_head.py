"""The classifier on frozen features is fitted to convergence: the same optimum as scikit-learn's
LogisticRegression on the same objective, an L2 strength chosen on the training images only, and a
head that predicts exactly as the fit says."""

import numpy as np
import pytest
import torch

from core.base.cancel import CancelToken
from core.base.errors import Cancelled
from core.training.linear_head import L2_PATH, choose, cross_validate, fit_linear


def _blobs(n: int, d: int, k: int, seed: int = 0, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 2.0
    y = np.arange(n) % k
    x = np.abs(centres[y] + rng.normal(size=(n, d)) * spread)  # non-negative, like pooled ReLU features
    return x, y


@pytest.mark.parametrize("n,d", [(60, 200), (300, 40)], ids=["fewer images than dimensions", "more images"])
def test_the_fit_is_the_optimum_scikit_learn_finds(n, d):
    from sklearn.linear_model import LogisticRegression
    x, y = _blobs(n, d, 3, spread=3.0)
    fit = fit_linear(x, y, 3, l2=0.05)
    scaled = (x - x.mean(0)) / np.sqrt(x.var(0).mean())  # centred, one scale for all features
    # sklearn minimises C * sum(CE) + 0.5 * ||W||^2, ours mean(CE) + 0.5 * l2 * ||W||^2: C = 1 / (l2 * n)
    reference = LogisticRegression(C=1 / (0.05 * n), tol=1e-10, max_iter=10_000).fit(scaled, y)
    expected = reference.predict_proba(scaled)
    ours = torch.softmax(torch.as_tensor(fit.logits(x)), 1).numpy()
    assert np.abs(ours - expected).max() < 1e-4


def test_the_strength_is_chosen_by_cross_validation_on_the_given_images_only():
    x, y = _blobs(90, 30, 3, spread=6.0)
    tried = cross_validate(x, y, 3, None, None, 5, 0, L2_PATH)
    assert [t["l2"] for t in tried] == list(L2_PATH)
    best = choose(tried)
    fit = fit_linear(x, y, 3)
    assert fit.l2 == best["l2"] and fit.cv_accuracy == best["accuracy"]
    assert best["accuracy"] == max(t["accuracy"] for t in tried)
    # the same inputs give the same fit (full-batch, from zero: deterministic)
    again = fit_linear(x, y, 3)
    assert np.array_equal(again.weight, fit.weight) and again.l2 == fit.l2


def test_views_of_one_image_stay_in_one_fold():
    """Random labels, two identical views per image: a fold that trains on one view and scores its twin
    would look perfect. Grouped by image, the score stays near chance."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 100)), np.arange(40) % 2
    rng.shuffle(y)
    views, labels, groups = np.concatenate([x, x]), np.concatenate([y, y]), np.tile(np.arange(40), 2)
    grouped = cross_validate(views, labels, 2, groups, None, 5, 0, (1e-4,))[0]["accuracy"]
    leaky = cross_validate(views, labels, 2, None, None, 5, 0, (1e-4,))[0]["accuracy"]
    assert leaky >= 0.85 and grouped < 0.7


def test_the_head_predicts_what_the_fit_says():
    x, y = _blobs(50, 16, 4)
    fit = fit_linear(x, y, 4)
    head = torch.nn.Linear(16, 4)
    fit.to_linear(head)
    with torch.no_grad():
        logits = head(torch.as_tensor(x, dtype=torch.float32)).numpy()
    assert np.abs(logits - fit.logits(x)).max() < 1e-3


def test_cancel_stops_the_search():
    x, y = _blobs(50, 16, 2)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        fit_linear(x, y, 2, cancel=token)


@pytest.mark.parametrize("n,d", [(60, 200), (300, 40)], ids=["fewer images than dimensions", "more images"])
def test_a_warm_start_reaches_the_same_optimum_as_the_path(n, d):
    """The refit on all labelled images starts from the fit on most of them (core.training.refit): it must land
    on the optimum scikit-learn finds, as walking the strength path from zero does."""
    from sklearn.linear_model import LogisticRegression
    x, y = _blobs(n, d, 3, spread=3.0)
    near = fit_linear(x[: n * 4 // 5], y[: n * 4 // 5], 3, l2=0.05)
    warm = fit_linear(x, y, 3, l2=0.05, start=(near.weight, near.bias))
    scaled = (x - x.mean(0)) / np.sqrt(x.var(0).mean())
    expected = LogisticRegression(C=1 / (0.05 * n), tol=1e-10, max_iter=10_000).fit(scaled, y).predict_proba(scaled)
    start = torch.softmax(torch.as_tensor(near.logits(x)), 1).numpy()
    assert np.abs(start - expected).max() > 1e-3  # the start is not already the answer
    assert np.abs(torch.softmax(torch.as_tensor(warm.logits(x)), 1).numpy() - expected).max() < 1e-4


def test_an_averaged_head_scores_the_mean_of_its_fits_scores():
    from core.training.linear_head import averaged
    x, y = _blobs(90, 30, 3, spread=2.0)
    whole, part = fit_linear(x, y, 3, l2=0.1), fit_linear(x[:, 20:], y, 3, l2=1.0)
    head = averaged([(0, whole), (20, part)], 30)
    np.testing.assert_allclose(head.logits(x), (whole.logits(x) + part.logits(x[:, 20:])) / 2, rtol=1e-10, atol=1e-10)
    assert head.weight.shape == (3, 30) and head.l2 == 0.1 and head.seconds == whole.seconds + part.seconds
