"""The Train page's progress bar words: time left, and how far a run stopped before its planned end got."""

from core.evaluation.result_words import how_it_stopped


def duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


PREP_SHARE = 0.1  # of a run's bar, at most, for its preparing steps before the first epoch (decoding, features)


def plain_share(prep: float, value: int, maximum: int, prepare: bool, eta) -> tuple[float, float]:
    """(the bar's share, the share the preparing steps before the first epoch have filled) for a run made by hand:
    those steps fill the first ``PREP_SHARE``, the epochs (``eta``: core.training.eta.RunEta) the rest; a step
    between epochs holds the bar. It never goes back (a walkthrough saw it full on "Decoding … 32 / 32", then at
    10% for the first epoch)."""
    if prepare and eta is None:
        prep = max(prep, PREP_SHARE * min(1.0, value / maximum))
        return prep, prep
    f = eta.value() / eta.maximum() if prepare else min(1.0, value / maximum)
    return prep + (1 - prep) * f, prep


def resumed_share(done: int, settings) -> float:
    """Where a resumed run's bar starts after ``done`` epochs: the share core.training.eta.RunEta gives them."""
    from core.training.eta import RunEta
    eta = RunEta(settings.epochs, first_epoch=done + 1, head_epochs=settings.head_epochs * bool(settings.two_stage))
    return eta.value() / eta.maximum()


def set_bar(bar, value: float, text: str) -> None:
    """The bar at ``value`` of 1 (0: not started or cancelled, 1: done or opened), saying ``text``."""
    bar.setRange(0, 1000)
    bar.setValue(int(1000 * value))
    bar.setFormat(text)


def show_stopped(bar, stopped: dict, result, opened: bool = False) -> None:
    """A run stopped by Cancel or by closing TransferLab (its model's "stopped"): the bar shows how far it got,
    4 of 12 epochs, never a full bar, and says that Resume continues it."""
    done, planned = int(stopped.get("after_epoch") or len(result.history)), int(stopped.get("of") or 0)
    bar.setRange(0, max(planned, done, 1))
    bar.setValue(done)
    how = how_it_stopped({**stopped, "after_epoch": done, "of": planned})
    bar.setFormat(f"{'Opened · ' if opened else ''}{how[:1].upper()}{how[1:]} · best epoch {result.best_epoch} kept "
                  f"({result.best_val_accuracy:.1%}) · Resume continues it")
