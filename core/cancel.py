"""A thread-safe cancel flag checked by long operations (scan, advise, train)."""

import threading

from core.errors import Cancelled


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
