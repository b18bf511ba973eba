"""The one progress interface of core: ``progress(done, total, message)``.

``total`` 0 means the amount of work is unknown (show a busy indicator); ``message`` "" means there is
nothing new to say (keep showing what the caller chose). Long-running functions take
``progress: Progress | None``; the GUI hands them its task's progress, the command line a progress bar.
A function that runs a sub-task hands it :func:`within` or :func:`saying` instead of writing a lambda,
and code that must tell stages apart gets a parameter or an event, never a parsed message.
"""

from __future__ import annotations

from typing import Callable

Progress = Callable[[int, int, str], None]


def report(progress: Progress | None, done: int, total: int, message: str = "") -> None:
    """Call ``progress`` when there is one."""
    if progress is not None:
        progress(done, total, message)


def saying(progress: Progress | None, message: str) -> Progress | None:
    """A sub-task's progress passed on with ``message`` wherever the sub-task says nothing."""
    if progress is None:
        return None
    return lambda done, total, said="": progress(done, total, said or message)


def within(progress: Progress | None, start: int, end: int, total: int, message: str = "") -> Progress | None:
    """A sub-task's progress mapped onto ``start``..``end`` of the parent's ``total`` (Orange's
    ``wrap_callback``): the sub-task counts its own work, the parent's bar moves over its share."""
    if progress is None:
        return None

    def child(done: int, sub_total: int, said: str = "") -> None:
        share = min(1.0, done / sub_total) if sub_total else 0.0
        progress(start + round((end - start) * share), total, said or message)
    return child
