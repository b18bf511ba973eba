"""How far a training run has come, and how long it has left, from its events alone.

The time left follows the current stage: the last finished epoch's length (when it had as many batches) blended
with the running epoch's own pace as that epoch goes on, or that pace alone once a fifth of the epoch is done when
there is no such last epoch; times the epochs still to go, smoothed so that it does not jump from batch to batch.
A two-stage run's first stage trains only the new classifier on cached features (a batch or two an epoch); the
fine-tuning epochs after it run on images and take far longer, so no time left is guessed until their pace is
known.

The bar shows time, not epochs: once the time left is known, the share of the run's time that has passed (a
walkthrough saw 50% at epoch 3 of 5, when two quick epochs of the classifier alone had passed and three slow
fine-tuning epochs were ahead). Before that it moves through the quick first stage within its first
``HEAD_SHARE``, and it never goes back. A resumed run starts where its checkpoint left off. Pure Python with an
injectable clock, so the GUI's bar, the command line's and the tests share one rule.
"""

from __future__ import annotations

import time
from typing import Callable

STEPS_PER_EPOCH = 1000  # the bar's resolution: a progress value is epochs done x this
MIN_FRACTION_FOR_PACE = 0.2  # of the running epoch, before its own pace is trusted over the last epoch's
HEAD_SHARE = 0.1  # of the bar, at most, for a two-stage run's quick first stage (before the second one's pace)
SMOOTHING = 0.3  # of each new estimate of the finishing time taken in (the rest: the one shown before)


class RunEta:
    def __init__(self, epochs: int, clock: Callable[[], float] = time.monotonic, first_epoch: int = 1,
                 head_epochs: int = 0) -> None:
        self.epochs = max(1, int(epochs))
        self.clock = clock
        self.epoch, self.fraction_of_epoch = max(1, first_epoch), 0.0  # the running epoch (1-based), how much done
        self.head_epochs = head_epochs if 0 < head_epochs < self.epochs else 0
        self.started = self.epoch_started = clock()
        self.base = self._share_before(self.epoch)  # of the run, done before this fit started (a resumed run)
        self.last_epoch_seconds: float | None = None
        self.batches: int | None = None  # the running epoch's batch count
        self.last_epoch_batches: int | None = None
        self.finished = False
        self._shown = self.base  # the bar's share so far: it never goes back
        self._end: float | None = None  # the finishing time shown, smoothed

    def _share_before(self, epoch: int) -> float:
        """The bar's share when ``epoch`` starts, by epochs alone: a two-stage run's quick first stage is next to
        none of its time (the bar gave it ``HEAD_SHARE`` at most), not its epochs' share, so a resumed run's bar
        starts about where it stood before (a walkthrough saw 50% after a resume where the bar had shown 27%)."""
        done = epoch - 1
        if not self.head_epochs:
            return done / self.epochs
        if done <= self.head_epochs:
            return HEAD_SHARE * done / self.head_epochs
        return max(HEAD_SHARE, (done - self.head_epochs) / (self.epochs - self.head_epochs))

    def batch(self, epoch: int, batch: int, batches: int) -> None:
        if epoch != self.epoch:  # a resumed run's first batch, or an epoch without an end event
            self.epoch, self.epoch_started = epoch, self.clock()
        self.fraction_of_epoch = min(1.0, batch / max(1, batches))
        self.batches = batches
        self._estimate()

    def epoch_end(self, epoch: int, seconds: float) -> None:
        quick = epoch == self.head_epochs  # the first stage's last epoch times nothing of the second stage
        self.last_epoch_seconds, self.last_epoch_batches = (None, None) if quick else (seconds, self.batches)
        self.epoch, self.fraction_of_epoch, self.epoch_started = epoch + 1, 0.0, self.clock()
        self._estimate()

    def prepared(self) -> None:
        """A preparing step (decoding images, computing features) reported progress: until the epoch's first batch,
        its clock starts after that, or the step's time would count as the epoch's pace."""
        if self.fraction_of_epoch == 0.0:
            self.epoch_started = self.clock()

    def finish(self) -> None:
        """The run ended (its last epoch, early stopping, or the time budget): the bar is full."""
        self.finished = True

    def value(self) -> int:
        """For a progress bar ranging over 0 .. :meth:`maximum`: the share of the run's time that has passed."""
        if self.finished:
            return self.maximum()
        left = self.seconds_left()
        if left is not None:
            elapsed = self.clock() - self.started
            share = self.base + (1 - self.base) * elapsed / max(elapsed + left, 1e-9)
        elif self.head_epochs and self.epoch <= self.head_epochs:
            share = HEAD_SHARE * (self.epoch - 1 + self.fraction_of_epoch) / self.head_epochs
        else:
            share = self._shown  # the first fifth of a (stage's) first epoch: no pace to go by yet
        self._shown = max(self._shown, min(share, 1 - 1e-4))  # full only when finished
        return int(self._shown * self.maximum())

    def maximum(self) -> int:
        return self.epochs * STEPS_PER_EPOCH

    def seconds_left(self) -> float | None:
        """None until there is a pace to go by (the first fifth of the first epoch, or of the first epoch of a
        new size), and during a two-stage run's first stage; smoothed from call to call."""
        if self.finished or self.epoch > self.epochs:  # the last epoch has ended
            return 0.0
        return None if self._end is None else max(0.0, self._end - self.clock())

    def _estimate(self) -> None:
        """A new estimate of the finishing time, after each batch and epoch, taken in by ``SMOOTHING``."""
        raw, now = self._raw_seconds_left(), self.clock()
        if raw is None or self._end is None or raw == 0.0:
            self._end = None if raw is None else now + raw
        else:
            self._end += SMOOTHING * (now + raw - self._end)

    def _raw_seconds_left(self) -> float | None:
        if self.finished or self.epoch > self.epochs:  # the last epoch has ended
            return 0.0
        if self.epoch <= self.head_epochs:  # the fine-tuning epochs ahead are not timed by these quick ones
            return None
        elapsed, f = self.clock() - self.epoch_started, self.fraction_of_epoch
        last = self.last_epoch_seconds if self.last_epoch_batches in (None, self.batches) else None
        # (an epoch of another size, e.g. the first of a second stage, is not timed by the last one: the time left
        # would jump from seconds to minutes)
        if last is not None:  # f x the running epoch's own pace (elapsed / f) + (1 - f) x the last: its own weighs
            pace = elapsed + (1 - f) * last if f > 0 else max(last, elapsed)  # in as it goes (alone, one slow first
            # batch of four made it 4x too long)
            left_in_epoch = (1 - f) * pace if f > 0 else pace - elapsed
        elif f >= MIN_FRACTION_FOR_PACE:
            pace = elapsed / f
            left_in_epoch = pace - elapsed
        else:
            return None
        return max(0.0, left_in_epoch) + pace * max(0, self.epochs - self.epoch)
