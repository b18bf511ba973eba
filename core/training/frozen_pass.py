"""A feature-extraction run's frozen pass on its own, for measuring: the advisor's look at the data.

The images go through the network exactly as the feature cache of a feature-extraction run computes
them (the same decoding, the BatchNorm-folded network on the run's device, fp32), with the earlier level's
features beside the final ones (core.training.engines.LevelsEncoder). When the images are that run's
training images, the rows are kept under the key that run looks for, so the run does not compute them
again; the time the pass took is the speed that run's pass will have.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
from torch import nn

from core.base.cancel import CancelToken
from core.base.errors import TransferLabError
from core.base.progress import Progress
from core.data.items import ImageItem
from core.models.accel import configure_threads, plain_plan, plan_for
from core.models.clone import clone_module
from core.models.devices import resolve_device
from core.models.network import TransferNet, apply_freeze_depth
from core.models.preprocess import cached_eval_crop, preprocessing_for, resize_size, train_cache_size
from core.training import distributed
from core.training.engines import FeatureEncoder, images_key
from core.training.feature_cache import FoldOnce, compute, is_cached
from core.training.run_setup import cache_budget_bytes, feature_pass, features_key
from core.training.settings import TrainSettings


@dataclass
class FrozenFeatures:
    final: np.ndarray  # (n, D) pooled final features of the readable images
    earlier: np.ndarray | None  # (n, C) pooled features of the earlier level (None: not available)
    labels: np.ndarray  # (n,)
    seconds_per_image: float  # decoding and the frozen pass, as the feature cache runs them (in its stride)
    kept: bool = False  # the rows (and the validation images' ones) are on disk for the feature-extraction run


def frozen_features(settings: TrainSettings, model: nn.Module, items: Sequence[ImageItem], cut: int | None,
                    keep: bool = False, watch: Callable[[nn.Module], Callable[[], None]] | None = None,
                    progress: Progress | None = None, cancel: CancelToken | None = None,
                    val_items: Sequence[ImageItem] = ()) -> FrozenFeatures:
    """``model`` (a loaded backbone; not changed) over ``items`` as a feature-extraction run with these
    settings caches its training images. ``keep``: ``items`` are that run's training images, in its order,
    and the rows are kept for it, with those of its validation images ``val_items`` (computed after the
    measured ones, by the same folded network; not returned). ``watch``: as in
    core.training.feature_cache.compute."""
    configure_threads()
    run = replace(settings, strategy="feature-extraction", cut_index=None, with_level=None, augmentation="none",
                  lp_ft=False)
    device = distributed.local_device(resolve_device(run.device))
    plan = plan_for(device, run.precision) if run.speedups else plain_plan(device)
    pp = preprocessing_for(model, run.image_size)
    net = TransferNet(clone_module(model), 2)  # as build_run makes it: the head does not enter the key
    apply_freeze_depth(net, 0)
    plan.prepare_module(net)
    key = features_key(net, pp, run)
    encoder, companions = feature_pass(net, key, cut, plan, pp.input_size)
    encoder = FoldOnce(encoder)  # one folded copy for both passes
    files = [(item.path, item.label) for item in items]
    part = images_key(files, "train", run, 1)
    keep = keep and run.speedups and run.pretrained  # random weights: the run draws other ones
    started: list[float] = []
    batches: list[tuple[float, int]] = []  # when each batch left the network, and how many images it held

    def watching(module: nn.Module) -> Callable[[], None]:  # the clock starts at the first image, after set-up
        started.append(time.perf_counter())
        timing = module.register_forward_hook(lambda _m, args, _out: batches.append((time.perf_counter(),
                                                                                       len(args[0]))))
        unwatch = watch(module) if watch is not None else (lambda: None)
        return lambda: (timing.remove(), unwatch())

    sets = _pass({**key, **part}, files, encoder, run, plan, pp, keep, cancel, progress=progress,
                 companions=[({**k, **part}, w) for k, w in companions], watch=watching)
    seconds = steady_seconds(batches) or (time.perf_counter() - started[0] if started else 0.0) / max(1, len(files))
    final = np.asarray(sets[0].data[0])
    earlier = np.asarray(sets[1].data[0]) if len(sets) > 1 else None
    if earlier is None and cut is not None:  # one pass could not give both: the earlier level on its own
        earlier = _earlier_alone(model, cut, run, plan, pp, files, part, keep, cancel)
    kept = keep and is_cached({**key, **part})
    if kept and val_items:
        val = [(item.path, item.label) for item in val_items]
        val_part = images_key(val, "val", run, 1)
        _pass({**key, **val_part}, val, encoder, run, plan, pp, keep, cancel,
              companions=[({**k, **val_part}, w) for k, w in companions], decode_size=resize_size(pp))
        kept = is_cached({**key, **val_part})
    return FrozenFeatures(final, earlier, sets[0].labels.numpy(), seconds, kept)


MIN_STEADY_BATCHES = 3


def steady_seconds(batches: Sequence[tuple[float, int]]) -> float | None:
    """Seconds per image of a pass in its stride, from when each batch left the network and its size: the median
    over full batches after the first (which pays for warming up). A sample's pass is the first in the process
    and a few of its batches meet a busy moment (one of ten took twice the others): its mean, extrapolated to a
    run's whole pass, overstated that pass by 30% on 1,497 digits (2026-12-06). None with too few batches."""
    full = max((n for _, n in batches), default=0)
    rates = [(t - before) / n for (before, _), (t, n) in zip(batches, batches[1:]) if n == full]
    return float(np.median(rates)) if len(rates) >= MIN_STEADY_BATCHES else None


def _earlier_alone(model, cut, run, plan, pp, files, part, keep, cancel) -> np.ndarray | None:
    try:
        net = TransferNet(clone_module(model), 2, cut)
    except (TransferLabError, AttributeError, NotImplementedError):
        return None
    apply_freeze_depth(net, 0)
    plan.prepare_module(net)
    (found,) = _pass({**features_key(net, pp, run), **part}, files, FeatureEncoder(net), run, plan, pp, keep, cancel)
    return np.asarray(found.data[0])


def _pass(key, files, encoder, run, plan, pp, keep, cancel, decode_size: int | None = None, **more):
    """The training images' pass (or with ``decode_size``, the validation images') as
    core.training.engines.cached_engine runs it for ``run``."""
    return compute(key, files, encoder, views=[cached_eval_crop(pp)],
                   decode_size=decode_size or train_cache_size(pp, "none"), pp=pp, plan=plan.evaluation,
                   batch_size=max(run.batch_size, 32), budget_bytes=cache_budget_bytes(run) // 2, cancel=cancel,
                   save=keep, **more)
