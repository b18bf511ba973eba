"""Stratified folds for cross-validation: every class dealt evenly round the folds."""

import numpy as np


def stratified_folds(labels: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Fold number per sample: each class shuffled (seeded) and dealt round the folds."""
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), dtype=np.int64)
    start = 0
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        fold_of[members] = (start + np.arange(len(members))) % folds
        start += len(members)  # the next class starts where this one stopped: folds stay even
    return fold_of
