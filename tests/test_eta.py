"""The progress bar and time left cover the whole run (core.training.eta), with a simulated clock: a 40-epoch
two-stage run whose head-only epochs are one quick batch and whose fine-tuning epochs are slow."""

import pytest

from core.training.eta import HEAD_SHARE, RunEta


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _simulate(eta: RunEta, clock: Clock, first: int, last: int, seen: list) -> None:
    for epoch in range(first, last + 1):
        head = epoch <= 2
        batches, seconds = (1, 0.5) if head else (8, 2.0)
        start = clock.now
        for b in range(1, batches + 1):
            clock.now += seconds
            eta.batch(epoch, b, batches)
            seen.append((epoch, b, eta.value(), eta.seconds_left(), clock.now))
        eta.epoch_end(epoch, clock.now - start)


def test_a_two_stage_run_fills_the_bar_only_at_its_end_and_the_time_left_is_true():
    clock = Clock()
    eta = RunEta(40, clock)
    seen: list = []
    _simulate(eta, clock, 1, 40, seen)
    values = [v for _, _, v, _, _ in seen]
    assert values == sorted(values) and values[-1] < eta.maximum()  # never full before the run ends
    assert eta.seconds_left() == 0.0  # the last epoch has ended: nothing is left
    eta.finish()
    assert eta.value() == eta.maximum() and eta.seconds_left() == 0.0
    end = clock.now
    for epoch, batch, _, left, now in seen:
        if epoch >= 4 and batch >= 2:  # once the fine-tuning pace is known: within 15% of the truth
            assert left == pytest.approx(end - now, rel=0.15, abs=1.0)
    at = {e: left for e, b, _, left, _ in seen if b == 4}
    assert at[8] > at[11] > at[20]  # it counts down from epoch to epoch
    first_fine = [left for epoch, batch, _, left, _ in seen if epoch == 3 and batch == 1]
    assert first_fine == [None]  # not the head epochs' 0.5 s pace times 38 epochs: no guess until it is known


def test_a_resumed_run_starts_where_its_checkpoint_left_off():
    clock = Clock()
    eta = RunEta(40, clock, first_epoch=11)  # resumed after epoch 10
    assert eta.value() == 10 * 1000 and eta.seconds_left() is None  # no pace yet: no guess
    seen: list = []
    _simulate(eta, clock, 11, 12, seen)
    assert seen[2][2] > 10 * 1000 and seen[-1][3] == pytest.approx(28 * 16.0, rel=0.05)


def test_a_resumed_two_stage_run_starts_where_the_bar_stood_not_at_its_share_of_epochs():
    """A walkthrough saw the bar at about 27% before quitting (epoch 3 of 6, two quick classifier epochs first)
    and at 50% after Resume: the quick first stage had been counted as two sixths of the run's time."""
    clock = Clock()
    before = RunEta(6, clock, head_epochs=2)
    seen: list = []
    _simulate(before, clock, 1, 3, seen)
    stood = seen[-1][2] / before.maximum()
    resumed = RunEta(6, Clock(), first_epoch=4, head_epochs=2)
    assert resumed.value() / resumed.maximum() == pytest.approx(stood, abs=0.06)
    assert resumed.value() / resumed.maximum() < 0.4  # not 3 of 6 epochs
    assert RunEta(6, Clock(), first_epoch=2, head_epochs=2).value() == int(HEAD_SHARE / 2 * 6000)  # mid-first stage


def test_early_stopping_fills_the_bar():
    clock = Clock()
    eta = RunEta(40, clock)
    _simulate(eta, clock, 1, 6, [])
    assert eta.value() < eta.maximum() / 4
    eta.finish()
    assert eta.value() == eta.maximum()


def test_the_bar_shows_time_so_two_quick_classifier_epochs_are_not_two_fifths_of_a_run():
    """A walkthrough saw the bar at 50% at epoch 3 of 5: two quick epochs of the new classifier alone had passed,
    three slow fine-tuning epochs were ahead. The bar is the share of the run's time that has passed."""
    clock = Clock()
    eta = RunEta(5, clock, head_epochs=2)
    seen: list = []
    _simulate(eta, clock, 1, 5, seen)
    end = clock.now  # 2 x 0.5 s, then 3 x 8 x 2 s: 49 s
    shares = [v / eta.maximum() for _, _, v, _, _ in seen]
    assert shares == sorted(shares) and shares[-1] < 1
    # never ahead of the time, but for the quick first stage's allowance
    assert all(share <= max(now / end + 0.05, HEAD_SHARE) for (*_, now), share in zip(seen, shares))
    assert next(share for (epoch, batch, *_), share in zip(seen, shares) if (epoch, batch) == (3, 4)) < 0.25
    for (epoch, batch, _, left, now), share in zip(seen, shares):
        if epoch == 4 and batch >= 2:  # the pace is known: within a few points of the time that has passed
            assert share == pytest.approx(now / end, abs=0.05)
            assert left == pytest.approx(end - now, rel=0.15)
    lefts = [left for epoch, _, _, left, _ in seen if epoch <= 2]
    assert lefts == [None, None]  # no guess from the quick epochs for the slow ones ahead


def test_the_time_left_does_not_jump_when_each_epoch_trains_one_more_layer_group():
    """Gradual unfreezing: each epoch is slower than the last, so the last epoch's pace is too short and the
    running epoch's own pace takes over a fifth in. The time left shown moves smoothly, not in leaps."""
    clock, shown = Clock(), []
    eta = RunEta(8, clock)
    for epoch in range(1, 9):
        start = clock.now
        for b in range(1, 11):
            clock.now += 1.0 + 0.25 * epoch  # one more group trains each epoch: slower
            eta.batch(epoch, b, 10)
            shown.append(eta.seconds_left())
        eta.epoch_end(epoch, clock.now - start)
    known = [left for left in shown[10:] if left is not None]
    leaps = [b - a for a, b in zip(known, known[1:])]
    assert max(leaps) < 8.0, max(leaps)  # never up by more than a few batches' time at once


def test_a_preparing_step_between_epochs_is_not_timed_as_the_next_epoch():
    """Auto's last try read "about 2:34 left" 17 s before it ended: after its quick first stage the images were
    decoded (a preparing step of its own) and that time was counted into the first fine-tuning epoch's pace."""
    clock, seen = Clock(), []
    eta = RunEta(3, clock, head_epochs=1)
    clock.now += 0.5
    eta.batch(1, 1, 1)
    eta.epoch_end(1, 0.5)
    for _ in range(40):  # decoding the images, with its progress
        clock.now += 1.0
        eta.prepared()
    for epoch in (2, 3):
        start = clock.now
        for b in range(1, 5):
            clock.now += 2.0
            eta.batch(epoch, b, 4)
            seen.append((eta.seconds_left(), (3 - epoch) * 8.0 + (4 - b) * 2.0))
        eta.epoch_end(epoch, clock.now - start)
    for left, truth in seen:
        assert left is None or abs(left - truth) <= 0.3 * truth + 1.0, (left, truth)
    assert seen[0][0] is not None  # a quarter of the epoch done: a time left, and a true one
