"""Which unlabelled images to label next: the ones whose label would help the model most.

Uncertainty with diversity: the model's least sure images (the smallest margin between its two most likely
classes) are the candidates, POOL times as many as asked for; among them, each pick is the candidate farthest
(in the network's features, scaled to unit length) from everything labelled or picked so far, the least sure
first. Without the diversity step, twenty near-identical images the model is unsure of would all be shown.
bench/label_noise.py measures it against labels chosen at random.
"""

from __future__ import annotations

import numpy as np

POOL = 5  # candidates per image asked for


def margins(probabilities: np.ndarray) -> np.ndarray:
    """Most likely class's probability minus the second's, per image (small: unsure)."""
    top = np.sort(np.asarray(probabilities, dtype=np.float64), axis=1)
    return top[:, -1] - top[:, -2] if top.shape[1] > 1 else np.ones(len(top))


def next_to_label(probabilities: np.ndarray, features: np.ndarray, n: int,
                  labelled_features: np.ndarray | None = None) -> list[int]:
    """Indices of ``n`` images (rows of ``probabilities`` and ``features``) to label next, in the order to show
    them. ``labelled_features``: the images labelled already, which a pick should be unlike too."""
    n = min(n, len(probabilities))
    if n <= 0:
        return []
    unit = _unit(features)
    order = np.argsort(margins(probabilities), kind="stable")
    candidates = order[:min(len(order), POOL * n)]
    if labelled_features is not None and len(labelled_features):
        nearest = (1 - unit[candidates] @ _unit(labelled_features).T).min(axis=1)  # cosine distance to the closest
    else:
        nearest = np.full(len(candidates), np.inf)
    picked: list[int] = []
    for _ in range(n):
        i = int(np.argmax(nearest)) if np.isfinite(nearest).any() else 0  # the least sure first, then the farthest
        picked.append(int(candidates[i]))
        nearest = np.minimum(nearest, 1 - unit[candidates] @ unit[candidates[i]])
        nearest[i] = -np.inf
    return picked


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
