"""Every labelled image counts: after a classifier on a frozen backbone has been measured on the
held-out validation images, it is fitted once more on the training *and* validation images, with the
L2 strength cross-validation chose on the training images. What the run reports stays the
measurement of the first fit; its held-out logits travel in the bundle, so evaluating the training
folder later shows those honest predictions instead of scoring images the saved model learnt from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the app reads SPLIT_NAME before torch has loaded
    import torch

HELDOUT_KEY = "heldout"  # bundle meta: the measured fit's validation logits, by image path
SPLIT_NAME = "val (held out from the measured fit; the saved classifier then also learnt from them)"


def refit_on_all(engine, head: torch.nn.Linear, l2: float, class_weights: list[float] | None) -> int:
    """Refit ``head`` on every cached training view and every validation image; returns the images used."""
    import numpy as np

    from core.linear_head import fit_linear
    train, val = engine.train, engine.val
    x = np.concatenate([np.asarray(train.data, dtype=np.float32).reshape(train.views * len(train), -1),
                        np.asarray(val.data[0], dtype=np.float32).reshape(len(val), -1)])
    y = np.concatenate([np.tile(train.labels.numpy(), train.views), val.labels.numpy()])
    weights = None if class_weights is None else np.asarray(class_weights, dtype=np.float64)[y]
    fit = fit_linear(x, y, head.out_features, l2=l2, sample_weight=weights)
    fit.to_linear(head)
    return len(train) + len(val)


def heldout_record(val_items, kept: list[int], logits: torch.Tensor, root: Path) -> dict:
    """The measured fit's validation logits, keyed by the image's path relative to the dataset."""
    paths = [os.path.relpath(val_items[k].path, root) for k in kept]
    return {"paths": paths, "logits": [[round(float(v), 6) for v in row] for row in logits.tolist()]}


def stored_logits(meta: dict, files: list[tuple[Path, int]], root: Path) -> tuple[torch.Tensor, list[int]] | None:
    """The stored held-out logits of ``files`` (rows in their order) and the positions found; None when
    the bundle keeps none (it was not refitted)."""
    record = meta.get(HELDOUT_KEY)
    if not record:
        return None
    import torch
    row_of = {p: i for i, p in enumerate(record["paths"])}
    found = [i for i, (path, _) in enumerate(files) if os.path.relpath(path, root) in row_of]
    rows = [record["logits"][row_of[os.path.relpath(files[i][0], root)]] for i in found]
    return torch.tensor(rows, dtype=torch.float32).reshape(len(found), -1), found
