"""When what trains: the stages of a run, the layer groups trained each epoch, and the learning-rate
schedule (linear warm-up, then cosine decay to zero, once per stage).

A plain run is one stage. Two-stage fine-tuning (``TrainSettings.two_stage``, fastai's
``fine_tune``) splits ``epochs`` into ``head_epochs`` that train only the head and the rest, which
also train the top ``freeze_depth`` layer groups; with ``gradual_unfreeze`` the n-th epoch of the
second stage trains the top ``min(n, freeze_depth)`` groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from core.training.settings import TrainSettings

HEAD, FINE_TUNE, SINGLE = "head", "fine-tune", "train"


def warmup_cosine(optimizer: Optimizer, total_steps: int, warmup_steps: int, offset: int = 0) -> LambdaLR:
    """Warm-up then cosine decay over ``total_steps``; ``offset`` starts the schedule that many steps in."""
    total_steps = max(1, total_steps)
    warmup_steps = max(0, min(warmup_steps, total_steps - 1))

    def factor(step: int) -> float:
        step += offset
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return LambdaLR(optimizer, factor)


@dataclass(frozen=True)
class Stage:
    name: str  # HEAD, FINE_TUNE, or SINGLE for a one-stage run
    first_epoch: int
    last_epoch: int

    @property
    def epochs(self) -> int:
        return self.last_epoch - self.first_epoch + 1


def is_staged(settings: TrainSettings) -> bool:
    return settings.two_stage


def stages(settings: TrainSettings) -> list[Stage]:
    if not is_staged(settings):
        return [Stage(SINGLE, 1, settings.epochs)]
    return [Stage(HEAD, 1, settings.head_epochs), Stage(FINE_TUNE, settings.head_epochs + 1, settings.epochs)]


def stage_at(settings: TrainSettings, epoch: int) -> Stage:
    return next((s for s in stages(settings) if epoch <= s.last_epoch), stages(settings)[-1])


def trainable_groups(settings: TrainSettings, epoch: int) -> int:
    """How many backbone layer groups (counted from the head) train in ``epoch`` (1-based)."""
    stage = stage_at(settings, epoch)
    if stage.name == HEAD:
        return 0
    if stage.name == FINE_TUNE and settings.gradual_unfreeze:
        return min(settings.freeze_depth, epoch - stage.first_epoch + 1)
    return settings.freeze_depth


def segment_start(settings: TrainSettings, epoch: int) -> int:
    """The first epoch of the stretch, within ``epoch``'s stage, that trains the same groups as ``epoch``."""
    first = stage_at(settings, epoch).first_epoch
    while epoch > first and trainable_groups(settings, epoch - 1) == trainable_groups(settings, epoch):
        epoch -= 1
    return epoch


def stage_scheduler(optimizer: Optimizer, settings: TrainSettings, epoch: int, batches_per_epoch: int) -> LambdaLR:
    """The schedule of ``epoch``'s stage for an optimiser built at the start of ``epoch``'s stretch."""
    stage = stage_at(settings, epoch)
    steps = batches_per_epoch * stage.epochs
    offset = batches_per_epoch * (segment_start(settings, epoch) - stage.first_epoch)
    return warmup_cosine(optimizer, steps, int(settings.warmup_fraction * steps), offset)
