"""Everything a training run is built from: network, frozen parts, batch engine, optimiser, schedule, loss.

``train`` and ``resume_training`` (core.training.trainer) build a run the same way, so a resumed run
continues with identical objects; the checkpoint then restores their state. A run trained in
stages (core.training.schedule) is built as it is in a given epoch, and :func:`enter_epoch` changes what
trains between epochs: freezing first, then a new engine, optimiser and schedule. In a distributed
run (core.training.distributed) the engine's module is also wrapped in DistributedDataParallel (``Run.ddp``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from core.base.cancel import CancelToken
from core.base.errors import TransferLabError
from core.base.fingerprint import dict_fingerprint, modules_fingerprint
from core.data.health import IMBALANCE_RATIO, class_weights, imbalance
from core.data.items import ImageItem
from core.models.accel import ComputePlan, configure_threads, plain_plan, plan_for
from core.models.clone import clone_module
from core.models.devices import describe, resolve_device
from core.models.network import (FreezeSummary, TransferNet, apply_freeze_depth, default_cut_index,
                                 optimizer_param_groups)
from core.models.preprocess import Preprocessing, preprocessing_for
from core.models.trunk import FrozenPrefix, TrainableTop, split_at_freeze_boundary
from core.models.weights import LoadedBackbone, create_backbone
from core.training import distributed
from core.training.decode_cache import default_budget_bytes
from core.training.engines import (CachedEngine, DecodedEngine, Engine, FeatureEncoder, LevelsEncoder, PlainEngine,
                                   cached_engine)
from core.training.events import Prepare, TrainCallback
from core.training.feature_cache import side_by_side
from core.training.method import TrainingMethod
from core.training.regularizers import L2SP, l2sp_for
from core.training.schedule import Stage, stage_at, stage_scheduler, trainable_groups
from core.training.settings import TrainSettings


@dataclass
class Run:
    settings: TrainSettings
    classes: list[str]
    train_items: list[ImageItem]
    val_items: list[ImageItem]
    device: torch.device
    plan: ComputePlan
    loaded: LoadedBackbone
    pp: Preprocessing
    net: TransferNet
    freeze: FreezeSummary
    engine: Engine
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: object | None
    loss_fn: nn.Module
    class_weights: list[float] | None
    stage: Stage | None = None  # the stage (core.training.schedule) the run is set up for
    regularizer: L2SP | None = None
    ddp: nn.Module | None = None  # the engine's module in DistributedDataParallel (distributed runs only)
    method: TrainingMethod = field(default_factory=TrainingMethod)  # what a method adds (DANN), else nothing
    classifier_parts: list = field(default_factory=list)  # (first column, LinearFit) of a converged head's fits

    @property
    def train_module(self) -> nn.Module:
        """What a training batch goes through: the DDP wrapper in a distributed run."""
        return self.ddp if self.ddp is not None else self.engine.module

    @property
    def device_name(self) -> str:
        return describe(self.device)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_run(settings: TrainSettings, classes: list[str], train_items: list[ImageItem], val_items: list[ImageItem],
              cb: TrainCallback, cancel: CancelToken | None, epoch: int = 1,
              method: TrainingMethod | None = None) -> Run:
    """Seeded: the same settings and images give the same run, first time or resumed. Set up for
    ``epoch`` (what trains then, the engine for it, its stage's schedule), ready for its state; with
    a ``method``'s extra modules (core.training.method) trained alongside."""
    method = method or TrainingMethod()
    seed_everything(settings.seed)
    configure_threads()
    device = distributed.local_device(resolve_device(settings.device))
    plan = plan_for(device, settings.precision) if settings.speedups else plain_plan(device)
    loaded = create_backbone(settings.model_name, settings.weights, settings.weights_file,
                             progress=lambda _done, _total, message: cb.on_status(message))  # as events
    pp = preprocessing_for(loaded.model, settings.image_size)
    cut = None
    if settings.strategy == "truncated":
        cut = settings.cut_index if settings.cut_index is not None else default_cut_index(loaded.model)
        if cut is None:
            raise TransferLabError(f"{settings.model_name} cannot be cut at an earlier layer; "
                                   "choose another strategy")
    # Seed again: loading weights may or may not have drawn random numbers (a first-time conversion
    # builds a model), and the new head's initialisation must not depend on that.
    seed_everything(settings.seed)
    net = TransferNet(loaded.model, len(classes), cut, settings.with_level)
    freeze = apply_freeze_depth(net, trainable_groups(settings, epoch))
    plan.prepare_module(net)
    regularizer = l2sp_for(net, settings)  # the starting point, on the device, before any training
    engine = _stage_engine(net, pp, settings, plan, train_items, val_items, epoch, cb, cancel)
    method.attach(net, pp, settings, plan, cb, cancel)
    # The optimizer is built after freezing, so it holds only trainable parameters.
    optimizer = build_optimizer(net, settings, method)
    weights = loss_weights(train_items, len(classes), settings.class_weighting)
    if weights is not None:
        cb.on_status("Classes are unbalanced; the loss weights each class by the inverse of its share: " +
                     ", ".join(f"{c} {w:.2f}" for c, w in zip(classes, weights)))
    loss_fn = nn.CrossEntropyLoss(weight=None if weights is None else torch.tensor(weights, device=device),
                                  label_smoothing=settings.label_smoothing)
    scheduler = stage_scheduler(optimizer, settings, epoch, engine.batches_per_epoch)
    rank, _ = distributed.shard()
    if rank:  # each rank its own augmentation and dropout draws (rank 0 draws as a single process does)
        seed_everything(settings.seed + 7919 * rank)
    return Run(settings, list(classes), list(train_items), list(val_items), device, plan, loaded, pp, net, freeze,
               engine, optimizer, scheduler, plan.make_grad_scaler(), loss_fn, weights, stage_at(settings, epoch),
               regularizer, distributed.wrap(engine.module, device), method)


def build_optimizer(net: TransferNet, settings: TrainSettings, method: TrainingMethod | None = None) -> torch.optim.Optimizer:
    """AdamW over the parameters trainable now (and a method's extra modules); no weight decay on the
    backbone under L2-SP."""
    backbone_decay = 0.0 if settings.l2sp_alpha > 0 else settings.weight_decay
    return torch.optim.AdamW(optimizer_param_groups(net, settings.head_lr, settings.backbone_lr,
                                                    settings.weight_decay, backbone_decay)
                             + (method.param_groups(settings) if method is not None else []))


def enter_epoch(run: Run, epoch: int, cb: TrainCallback, cancel: CancelToken | None) -> bool:
    """Set ``run`` up for ``epoch`` if another stage or more layer groups train then: freeze first, then
    an engine for the new frozen part, an optimiser over exactly the trainable parameters (keeping the
    Adam state of those that trained already) and the stage's schedule. True if anything changed."""
    settings = run.settings
    depth, stage = trainable_groups(settings, epoch), stage_at(settings, epoch)
    if depth == run.freeze.freeze_depth and stage == run.stage:
        return False
    run.ddp = None  # the old wrapper's gradient hooks go with it, before what trains changes
    run.freeze, run.stage = apply_freeze_depth(run.net, depth), stage
    old_engine, old_optimizer = run.engine, run.optimizer
    run.engine = _stage_engine(run.net, run.pp, settings, run.plan, run.train_items, run.val_items, epoch, cb,
                               cancel, reuse=old_engine)
    run.engine.sampler_generator.set_state(old_engine.sampler_generator.get_state())  # the shuffles go on
    run.optimizer = build_optimizer(run.net, settings, run.method)
    for group in run.optimizer.param_groups:
        for p in group["params"]:
            if p in old_optimizer.state:
                run.optimizer.state[p] = old_optimizer.state[p]
    run.scheduler = stage_scheduler(run.optimizer, settings, epoch, run.engine.batches_per_epoch)
    run.ddp = distributed.wrap(run.engine.module, run.device)
    return True


def _stage_engine(net: TransferNet, pp: Preprocessing, settings: TrainSettings, plan: ComputePlan,
                  train_items: list[ImageItem], val_items: list[ImageItem], epoch: int, cb: TrainCallback,
                  cancel: CancelToken | None, reuse: Engine | None = None) -> Engine:
    """The engine for ``epoch``'s stage (cached views for that stage's epochs). Whether its caches were
    computed now (random augmented views) or read from disk leaves the global generators alone."""
    stage = stage_at(settings, epoch)
    with torch.random.fork_rng(devices=[]):
        return make_engine(net, pp, replace(settings, epochs=stage.epochs), plan,
                           [(i.path, i.label) for i in train_items], [(i.path, i.label) for i in val_items], cb,
                           cancel, reuse=reuse)


def loss_weights(train_items: list, num_classes: int, mode: str) -> list[float] | None:
    """Inverse-frequency class weights when asked for, or by default past core.data.health.IMBALANCE_RATIO."""
    counts = [0] * num_classes
    for item in train_items:
        counts[item.label] += 1
    ratio, _, _ = imbalance({str(c): n for c, n in enumerate(counts)})
    if mode == "off" or (mode == "auto" and ratio < IMBALANCE_RATIO):
        return None
    return class_weights(counts)


def cache_budget_bytes(settings: TrainSettings) -> int:
    """The memory a run may give its decoded images and cached features."""
    return default_budget_bytes() if settings.cache_memory_mb is None else int(settings.cache_memory_mb) << 20


def make_engine(net: TransferNet, pp: Preprocessing, settings: TrainSettings, plan: ComputePlan,
                train_files: list, val_files: list, cb: TrainCallback, cancel: CancelToken | None,
                reuse: Engine | None = None, images: str = "training images") -> Engine:
    """The fastest way to feed this run (see core.training.engines); the plain path when speed-ups are off.
    An engine that runs the whole network (``reuse``, plain or decoded) is kept when it still fits.
    ``images`` names the training files in progress messages."""
    if not settings.speedups:
        return reuse if isinstance(reuse, PlainEngine) else PlainEngine(net, train_files, val_files, pp, settings,
                                                                         plan)
    budget = cache_budget_bytes(settings)
    progress = lambda done, total, stage: cb.on_prepare(Prepare(stage, done, total))  # noqa: E731 (as events)
    if not any(p.requires_grad for p in net.backbone.parameters()):
        if net.with_level is not None:
            return distributed.main_first(lambda: _levels_engine(net, pp, settings, plan, train_files, val_files,
                                                                 budget, cancel, progress, images))
        key = features_key(net, pp, settings)
        # distributed: local rank 0 fills the disk cache, the other ranks then read it
        return distributed.main_first(lambda: cached_engine(net, FeatureEncoder(net), net.head, "features", key,
                                                            train_files, val_files, pp, settings, plan, budget,
                                                            cancel, progress, images))
    split = split_at_freeze_boundary(net)
    if split is not None and settings.augmentation == "none":
        prefix = FrozenPrefix(split)
        key = {**_cache_key(settings, pp), "kind": "boundary", "boundary": split.boundary,
               "weights": modules_fingerprint([prefix])}
        return distributed.main_first(lambda: cached_engine(net, prefix, TrainableTop(net, split), "boundary", key,
                                                            train_files, val_files, pp, settings, plan, budget,
                                                            cancel, progress, images))
    if isinstance(reuse, DecodedEngine):
        return reuse
    return DecodedEngine(net, train_files, val_files, pp, settings, plan, budget, cancel, progress, images)


def _levels_engine(net: TransferNet, pp: Preprocessing, settings: TrainSettings, plan: ComputePlan, train_files: list,
                   val_files: list, budget: int, cancel: CancelToken | None, progress, images: str) -> CachedEngine:
    """A classifier on the final features and an earlier level's side by side: each part is cached under the
    key its own run has (a network not cut, and one cut at that level), so either may come from such a run;
    the final pass computes the earlier level too when one pass gives both (feature_pass)."""
    with torch.random.fork_rng(devices=[]):  # the two views' throwaway heads draw nothing the run sees
        final = TransferNet(net.backbone, 1)  # the same (frozen) backbone: only its features are used
        earlier = TransferNet(clone_module(net.backbone), 1, net.with_level)
    key = features_key(final, pp, settings)
    encoder, companions = feature_pass(final, key, net.with_level, plan, pp.input_size)
    parts = [cached_engine(final, encoder, final.head, "features", key, train_files, val_files, pp, settings, plan,
                           budget, cancel, progress, images, companions),
             cached_engine(earlier, FeatureEncoder(earlier), earlier.head, "features",
                           features_key(earlier, pp, settings), train_files, val_files, pp, settings, plan, budget,
                           cancel, progress, images)]
    first = parts[0].details
    details = {**first, "cache_mib": round(sum(p.details["cache_mib"] for p in parts), 1),
               "reused": all(p.details["reused"] for p in parts),
               "summary": first["summary"].replace("features computed once", "final and earlier-layer features "
                                                   "computed once", 1)}
    return CachedEngine(net.head, side_by_side(parts[0].train, parts[1].train),
                        side_by_side(parts[0].val, parts[1].val), settings, plan.evaluation, details)


def _cache_key(settings: TrainSettings, pp: Preprocessing) -> dict:
    import timm
    import torchvision
    return {"model": settings.model_name, "preprocessing": pp.to_dict(), "precision": "fp32", "fold": 1,
            "versions": [torch.__version__, torchvision.__version__, timm.__version__]}


def features_key(net: TransferNet, pp: Preprocessing, settings: TrainSettings) -> dict:
    """What identifies the cached features of a frozen ``net`` (before the images' part of the key)."""
    return {**_cache_key(settings, pp), "kind": "features", "cut": net.cut_index,
            "weights": modules_fingerprint([net.backbone])}


def feature_pass(net: TransferNet, key: dict, also_cut: int | None, plan: ComputePlan,
                 size: int) -> tuple[nn.Module, list[tuple[dict, int]]]:
    """The encoder of a frozen network's features, and (key, width) of what else its pass caches: with
    ``also_cut``, level ``also_cut``'s pooled features under the key a network cut there has, when one pass
    is observed to give both exactly (on ``size``-pixel input, in exact fp32; else nothing more: that run
    then computes its own)."""
    encoder = FeatureEncoder(net)
    if also_cut is None or net.cut_index is not None:
        return encoder, []
    device = next(net.parameters()).device
    seen = dict_fingerprint({**key, "also": int(also_cut), "size": size, "device": str(device),
                             "precision": plan.evaluation.precision})
    if seen in _ONE_PASS_SEEN:  # observed on these very weights in this process (the advisor's pass, then Auto's)
        return LevelsEncoder(net, int(also_cut)), [_ONE_PASS_SEEN[seen]]
    try:
        earlier = TransferNet(clone_module(net.backbone), 1, int(also_cut))  # as that run builds its network
    except (TransferLabError, AttributeError, NotImplementedError):
        return encoder, []
    both = LevelsEncoder(net, int(also_cut))
    probe = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    modes = [(m, m.training) for m in net.modules()]  # frozen BatchNorm may sit in eval mode in a training net
    try:
        net.eval()
        earlier.eval()
        with torch.inference_mode(), plan.evaluation.autocast():
            apart = torch.cat([encoder(probe), FeatureEncoder(earlier)(probe)], dim=1)
            together = both(probe)
    except (RuntimeError, ValueError, TypeError, AttributeError, NotImplementedError, AssertionError):
        return encoder, []
    finally:
        for module, mode in modes:
            module.training = mode
    if together.shape != apart.shape or not torch.allclose(together, apart, atol=1e-5, rtol=1e-4):
        return encoder, []
    _ONE_PASS_SEEN[seen] = ({**key, "cut": int(also_cut), "weights": modules_fingerprint([earlier.backbone])},
                            earlier.head.in_features)
    while len(_ONE_PASS_SEEN) > 8:
        _ONE_PASS_SEEN.pop(next(iter(_ONE_PASS_SEEN)))
    return both, [_ONE_PASS_SEEN[seen]]


# feature_pass's checks that passed, by what they depend on: (companion key, width), the latest last
_ONE_PASS_SEEN: dict[str, tuple[dict, int]] = {}
