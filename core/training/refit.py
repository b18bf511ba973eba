"""Every labelled image counts: after a classifier on a frozen backbone has been measured on the
held-out validation images, it is fitted once more on the training *and* validation images, with the
L2 strength cross-validation chose on the training images. What the run reports stays the
measurement of the first fit; its held-out logits travel in the bundle, so evaluating the training
folder later shows those honest predictions instead of scoring images the saved model learnt from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.evaluation.heldout import HELDOUT_KEY, heldout_record

if TYPE_CHECKING:  # the app reads SPLIT_NAME before torch has loaded
    import torch

    from core.training.events import TrainCallback
    from core.training.run_setup import Run



def refit_run_classifier(run: Run, val_logits: torch.Tensor, root: Path, cb: TrainCallback) -> dict:
    """A run's converged classifier, measured on the validation images, learns from them too; returns
    what goes into the bundle's description about it (nothing for other runs)."""
    from core.training import distributed
    chosen = run.engine.details.get("classifier")
    if run.settings.classifier_fit != "converged" or not chosen or not len(run.engine.val) or \
            distributed.current() is not None:
        return {}
    starts = {start: (fit.weight, fit.bias) for start, fit in run.classifier_parts}  # a resumed run: none (slower)
    parts = [(part["from_column"], part["l2"], starts.get(part["from_column"])) for part in chosen.get("parts", [])]
    images = refit_on_all(run.engine, run.net.head, chosen["l2"], run.class_weights, parts)
    run.net.head.to(run.device)
    cb.on_status(f"Measured on the {len(run.engine.val)} validation images, the classifier was then fitted again on "
                 f"all {images} labelled images, so none is wasted")
    heldout = heldout_record(run.val_items, run.engine.val.kept, val_logits, root)
    return {"refit": {"images": images, "l2": chosen["l2"]}, HELDOUT_KEY: heldout}


def refit_on_all(engine, head: torch.nn.Linear, l2: float, class_weights: list[float] | None,
                 parts: list[tuple] = ()) -> int:
    """Refit ``head`` on every cached training view and every validation image; returns the images used.
    ``parts``: (first column, strength, measured (weight, bias) or None) of a head averaged from several fits
    (core.training.linear_head.averaged), each refitted on its columns; none: the head is one fit, at ``l2``."""
    import numpy as np

    from core.training.linear_head import averaged, cached_rows, fit_linear, row_weights
    train, val = engine.train, engine.val
    (xt, yt, _), (xv, yv, _) = cached_rows(train), cached_rows(val, views=1)
    x, y = np.concatenate([xt, xv]), np.concatenate([yt, yv])
    if not parts:  # from the measured fit: the answer moves little with a fifth more images
        parts = [(0, l2, (head.weight.detach().double().cpu().numpy(), head.bias.detach().double().cpu().numpy()))]
    weights = row_weights(class_weights, y)
    fits = [(first, fit_linear(x[:, first:], y, head.out_features, l2=strength, sample_weight=weights, start=start))
            for first, strength, start in parts]
    averaged(fits, x.shape[1]).to_linear(head)
    return len(train) + len(val)
