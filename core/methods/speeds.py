"""How fast this computer is on the user's images: what "Auto" plans its time budget from
(core.methods.auto_search). A few seconds of timing before anything trains; no training happens here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from core.training.settings import TrainSettings


@dataclass(frozen=True)
class Speeds:
    """Seconds per image on this computer: a frozen forward pass (decoding included) and a
    fine-tuning step (forward and backward at the candidate's depth)."""

    forward: float
    train_step: float  # an augmented image from memory through a training step
    earlier: float | None = None  # a forward pass up to the earlier layer only (None: as ``forward``)
    decode: float = 0.0  # reading and resizing one image (fine-tuning pays it once per image)
    width: int = 0  # features per image at the final layer (0: not known)
    earlier_width: int = 0  # ... and at the earlier layer: the classifier's fit costs in proportion


def measure_speeds(settings: TrainSettings, paths: list[Path], batch: int = 16, cut: int | None = None,
                   depth: int | None = None, train_step: bool = True) -> Speeds:
    """Seconds per image on this computer, timed: decoding and resizing a few of the user's images,
    and the network's forward pass as the feature cache runs it (BatchNorm folded into the convolutions)
    and a training step of its top ``depth`` layer groups (all when None) on a batch of random images
    (three times each; the first warms up, the faster of the other two counts): the backward pass
    through a few top groups costs far less than their share of the groups.
    ``train_step=False`` (a plan without fine-tuning) leaves the training step out: its speed is then 0."""
    import torch

    from core.data.images import load_rgb
    from core.models.network import TransferNet
    from core.models.preprocess import eval_transform, preprocessing_for
    from core.models.weights import create_backbone
    model = create_backbone(settings.model_name, "none").model
    pp = preprocessing_for(model, settings.image_size)
    transform = eval_transform(pp)
    decode = 0.0
    if paths:
        t0 = time.perf_counter()
        for path in paths[:batch]:
            transform(load_rgb(path))
        decode = (time.perf_counter() - t0) / len(paths[:batch])
    import copy

    from core.models.fold import folded_copy
    from core.training.engines import FeatureEncoder
    probe = torch.randn(2, 3, 64, 64)
    early_encoder = None
    if cut is not None:  # the cut network as its candidate caches it (pruned above the cut, folded)
        early_encoder = folded_copy(FeatureEncoder(TransferNet(copy.deepcopy(model), 2, cut_index=cut)), probe).eval()
    net = TransferNet(model, 2)
    encoder = folded_copy(FeatureEncoder(net), probe).eval()  # as core.training.feature_cache runs it
    if depth is not None:
        from core.models.network import apply_freeze_depth, set_train_mode
        apply_freeze_depth(net, depth)
    x, y = torch.randn(batch, 3, pp.input_size, pp.input_size), torch.zeros(batch, dtype=torch.long)
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-6)
    forward = step = early = float("inf")
    widths = [0, 0]
    for attempt in range(3):  # the first pays for warming up; the faster of the other two is kept
        net.eval()
        t0 = time.perf_counter()
        with torch.inference_mode():
            widths[0] = int(encoder(x).shape[1])
        forward = min(forward, time.perf_counter() - t0) if attempt else forward
        if early_encoder is not None:
            t0 = time.perf_counter()
            with torch.inference_mode():
                widths[1] = int(early_encoder(x).shape[1])
            early = min(early, time.perf_counter() - t0) if attempt else early
        if not train_step:
            continue
        net.train()
        if depth is not None:
            set_train_mode(net)  # frozen groups' BatchNorm stays in eval mode, as in training
        t0 = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
        step = min(step, time.perf_counter() - t0) if attempt else step
    # fine-tuning decodes each image once and keeps it in memory; an epoch then augments (about half a
    # decode) and steps
    return Speeds(decode + forward / batch, 0.5 * decode + step / batch if train_step else 0.0,
                  decode + early / batch if cut is not None else None, decode, *widths)
