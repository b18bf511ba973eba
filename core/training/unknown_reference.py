"""A finished run learns what its labelled images look like to it, so that its model can say "I don't know"
(core.models.unknown_score): the features its classifier sees, of every training and validation image (the
earlier level's part, where it sees two levels), give the unknown score its class means and covariance. Their
cross-validated scores set its threshold, or, where training changed the features (fine-tuning, or no pretrained
weights), the validation images' scores do."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from core.base.cancel import CancelToken, check
from core.evaluation.result_words import score_words
from core.models.unknown_score import FOLDS, fit_unknown_score

if TYPE_CHECKING:
    from core.training.events import TrainCallback
    from core.training.run_setup import Run

BATCH = 32


def fit_run_unknown(run: Run, cb: TrainCallback, cancel: CancelToken | None = None, passing: bool = True) -> dict:
    """Attach the unknown score to ``run.net`` (``run.net.unknown``); returns what the bundle's description
    says of it. Features a run cached are read as they are; other runs pass their images through the network
    once more (one forward pass of each labelled image), unless ``passing`` is False (after Cancel, or at the
    time budget's end): that model then has no unknown score."""
    labelled = _cached(run)
    if labelled is None and not passing:
        cb.on_status("No time left to learn when to say “I don't know” (one more pass over the images): this model "
                     "labels every image with one of its classes")
        return {}
    if labelled is None:
        cb.on_status("Computing the features of the labelled images once more, so the model can tell images "
                     "unlike any of them…")
        labelled = _passed(run, cancel)
    if len(labelled[0]) < FOLDS:
        cb.on_status(f"Too few labelled images ({len(labelled[0])}) to learn when to say “I don't know”")
        return {}
    features_trained = run.settings.freeze_depth > 0 or not run.settings.pretrained
    held = labelled[2] if features_trained else None
    scorer, info = fit_unknown_score(*labelled[:2], seed=run.settings.seed, held=held,
                                     first_column=earlier_columns(run.net))
    run.net.unknown = scorer.to(next(run.net.head.parameters()).device)
    cb.on_status(f"“I don't know”: an image is called unknown when its unknown score is above "
                 f"{score_words(info['threshold'])}, "
                 f"farther from every class than {info['accepted']:.0%} of the "
                 f"{'validation' if info['threshold_from'] == 'validation' else 'labelled'} images are, each measured "
                 "by a score that had not seen it")
    return {"unknown": info}


def earlier_columns(net) -> int:
    """Where the unknown score's columns of ``net.features`` begin: at the earlier level's, for a classifier on
    final and earlier features (bench.unknown: they tell images of no class apart best); else at the first."""
    from core.models.network import final_width
    return final_width(net.backbone) if net.with_level is not None else 0


def _cached(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(features, labels, is_validation): the head's inputs from the run's feature cache (each image's first
    view), or None."""
    engine = run.engine
    if engine.details.get("cache") != "features" or getattr(engine, "train", None) is None:
        return None
    from core.training.linear_head import cached_rows
    parts = [cached_rows(engine.train, views=1)]
    if engine.val is not None and len(engine.val):
        parts.append(cached_rows(engine.val, views=1))
    held = np.concatenate([np.full(len(p[1]), i > 0) for i, p in enumerate(parts)])
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), held


@torch.inference_mode()
def _passed(run: Run, cancel: CancelToken | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from core.data.loading import make_loader
    from core.models.preprocess import eval_transform
    k = len(run.classes)  # a validation image travels as label + k: an unreadable image dropped keeps the rest in step
    files = [(item.path, item.label + k * held) for held, items in enumerate((run.train_items, run.val_items))
             for item in items]
    loader = make_loader(files, eval_transform(run.pp), BATCH)
    net, plan = run.net, run.plan.evaluation
    was_training = net.training
    net.eval()
    rows, labels = [], []
    for batch in loader:
        check(cancel)
        if batch is None:
            continue
        with plan.autocast():
            rows.append(net.features(plan.to_device(batch[0])).float().cpu())
        labels.append(batch[1])
    net.train(was_training)
    if not rows:
        return np.empty((0, 0), dtype=np.float32), np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
    coded = torch.cat(labels).numpy()
    return torch.cat(rows).numpy(), coded % k, coded >= k
