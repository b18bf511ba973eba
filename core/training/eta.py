"""How far a training run has come, and how long it has left, from its events alone.

Progress is counted in epochs, not batches: a two-stage run's head-only epochs run on cached
features (a batch or two) and its fine-tuning epochs on images (many batches), so a bar sized by
the first epoch's batches would be full long before the end. The time left follows the current
stage: the running epoch's own pace once a fifth of it is done, else the last finished epoch's
length, times the epochs still to go. A resumed run starts where its checkpoint left off. Pure
Python with an injectable clock, so the GUI's bar and the tests share one rule.
"""

from __future__ import annotations

import time
from typing import Callable

STEPS_PER_EPOCH = 1000  # the bar's resolution: a progress value is epochs done x this
MIN_FRACTION_FOR_PACE = 0.2  # of the running epoch, before its own pace is trusted over the last epoch's


class RunEta:
    def __init__(self, epochs: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.epochs = max(1, int(epochs))
        self.clock = clock
        self.epoch, self.fraction_of_epoch = 1, 0.0  # the running epoch (1-based) and how much of it is done
        self.epoch_started = clock()
        self.last_epoch_seconds: float | None = None
        self.batches: int | None = None  # the running epoch's batch count
        self.last_epoch_batches: int | None = None
        self.finished = False

    def batch(self, epoch: int, batch: int, batches: int) -> None:
        if epoch != self.epoch:  # a resumed run's first batch, or an epoch without an end event
            self.epoch, self.epoch_started = epoch, self.clock()
        self.fraction_of_epoch = min(1.0, batch / max(1, batches))
        self.batches = batches

    def epoch_end(self, epoch: int, seconds: float) -> None:
        self.last_epoch_seconds, self.last_epoch_batches = seconds, self.batches
        self.epoch, self.fraction_of_epoch, self.epoch_started = epoch + 1, 0.0, self.clock()

    def finish(self) -> None:
        """The run ended (its last epoch, early stopping, or the time budget): the bar is full."""
        self.finished = True

    @property
    def done_epochs(self) -> float:
        if self.finished:
            return float(self.epochs)
        return min(self.epochs - 1e-3, self.epoch - 1 + self.fraction_of_epoch)  # full only when finished

    def value(self) -> int:
        """For a progress bar ranging over 0 .. :meth:`maximum`."""
        return int(self.done_epochs * STEPS_PER_EPOCH)

    def maximum(self) -> int:
        return self.epochs * STEPS_PER_EPOCH

    def seconds_left(self) -> float | None:
        """None until there is a pace to go by (the first fifth of the first epoch, or of the first epoch of a
        new size)."""
        if self.finished or self.epoch > self.epochs:  # the last epoch has ended
            return 0.0
        elapsed = self.clock() - self.epoch_started
        if self.fraction_of_epoch >= MIN_FRACTION_FOR_PACE:
            pace = elapsed / self.fraction_of_epoch
        elif self.last_epoch_seconds is not None and self.last_epoch_batches in (None, self.batches):
            pace = max(self.last_epoch_seconds, elapsed)  # (an epoch of another size, e.g. the first of a second
            # stage, is not timed by the last one: the time left would jump from seconds to minutes)
        else:
            return None
        left_in_epoch = max(0.0, pace - elapsed)
        return left_in_epoch + pace * max(0, self.epochs - self.epoch)
