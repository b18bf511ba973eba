"""Run core functions off the GUI thread (a QObject worker moved to a QThread).

The function gets a :class:`TaskContext` with plain callbacks: ``progress(done, total, message)``,
``event(obj)`` for small plain objects (never tensors), and the core :class:`CancelToken`.
Signals are delivered on the GUI thread; progress is throttled so the UI stays smooth.
"""

import logging
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.base.cancel import CancelToken
from core.base.errors import Cancelled, TransferLabError

PROGRESS_INTERVAL_S = 0.05


class TaskContext:
    def __init__(self, worker: "_Worker", cancel: CancelToken) -> None:
        self._worker = worker
        self.cancel = cancel
        self._last = 0.0

    def progress(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if done >= total or now - self._last >= PROGRESS_INTERVAL_S:
            self._last = now
            self._worker.progress.emit(int(done), int(total), message)

    def event(self, obj: Any) -> None:
        self._worker.event.emit(obj)


def readable_error(exc: BaseException) -> str:
    """A message a domain expert can act on, for any exception from the core."""
    if isinstance(exc, TransferLabError):
        return str(exc)
    text = str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return ("Out of memory. Try a smaller batch size, a smaller model or a smaller image size, "
                "or close other programs.")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return f"A file could not be read or written{where}: {exc.strerror or text}"
    first = text.splitlines()[0] if text else ""
    return f"Something went wrong: {type(exc).__name__}: {first}"


class _Worker(QObject):
    progress = Signal(int, int, str)
    event = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, fn: Callable[[TaskContext], Any], cancel: CancelToken) -> None:
        super().__init__()
        self._fn, self._cancel = fn, cancel

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(TaskContext(self, self._cancel))
        except Cancelled:
            self.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message in the window
            if not isinstance(exc, TransferLabError):  # unexpected: the traceback goes to the app's log file
                logging.getLogger("transferlab.tasks").exception("A background task failed")
            self.failed.emit(readable_error(exc))
        else:
            self.finished.emit(result)
        finally:
            QThread.currentThread().quit()


class Task(QObject):
    """One background job at a time. Connect to the signals, then :meth:`start`."""

    progress = Signal(int, int, str)
    event = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    stopped = Signal()  # after finished / failed / cancelled, once the thread has ended

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._cancel = CancelToken()

    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, fn: Callable[[TaskContext], Any]) -> None:
        if self.is_running():
            raise RuntimeError("a task is already running")
        self._cancel = CancelToken()
        thread = QThread()
        worker = _Worker(fn, self._cancel)
        worker.moveToThread(thread)
        worker.progress.connect(self.progress)
        worker.event.connect(self.event)
        worker.finished.connect(self.finished)
        worker.failed.connect(self.failed)
        worker.cancelled.connect(self.cancelled)
        thread.started.connect(worker.run)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start()

    def cancel(self) -> None:
        self._cancel.cancel()

    def wait(self, ms: int = 10000) -> bool:
        """Block until the thread ends (used when closing the window)."""
        if self._thread is None:
            return True
        ok = self._thread.wait(ms)
        self._on_thread_finished()
        return ok

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, self._thread, self._worker = self._thread, None, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
            self.stopped.emit()
