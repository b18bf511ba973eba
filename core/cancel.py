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
