"""A thread-safe cancel flag checked by long operations (scan, advise, train)."""

import contextlib
import signal
import threading

from core.base.errors import Cancelled


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


def check(token: "CancelToken | None") -> None:
    """Raise :class:`Cancelled` if ``token`` is set; ``None`` never cancels."""
    if token is not None:
        token.raise_if_cancelled()


def cancel_hooks(module, token: "CancelToken | None") -> list:
    """Check ``token`` before each stage and block of a torch ``module`` (names at most two levels
    deep below the root, e.g. ``backbone.blocks.3``), so Cancel is felt within a fraction of a batch
    even when one batch takes seconds on a CPU. Coarse on purpose: a hook on every module would add
    Python work that competes with the GUI thread for the GIL. Returns the handles to remove."""
    if token is None:
        return []
    coarse = [m for name, m in module.named_modules() if name.count(".") <= 2]
    return [m.register_forward_pre_hook(lambda *_: check(token)) for m in coarse]


@contextlib.contextmanager
def ctrl_c_cancels(say=print):
    """Within it, the first Ctrl-C sets the yielded token (training then saves its best epoch, like Cancel
    in the window) and the second stops at once. Outside the main thread: a plain token, Ctrl-C as usual."""
    token = CancelToken()
    if threading.current_thread() is not threading.main_thread():
        yield token
        return

    def handler(signum, frame) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        say("Stopping: the best epoch so far will be saved (press Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)
