"""Unhandled exceptions: logged with their traceback, then a plain message that says where the log is.

Policy: the app keeps running. An exception escaping a Qt slot or event handler ends only that call
(PySide6 hands it to ``sys.excepthook`` and the event loop goes on), so the user is told, can save
their work and decide to restart; the window does not vanish. The same holds for exceptions in
QThreads (``sys.excepthook`` on that thread) and Python threads (``threading.excepthook``): they are
logged on their thread and the dialog opens on the GUI thread. While a crash dialog is open, further
exceptions are only logged, so a failing paint event cannot stack up dialogs. Ctrl+C keeps
Python's default behaviour. Qt's own warnings and fatal messages go to the log as well (a windowed
app has no console to print them to).
"""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType
from typing import Callable

from PySide6.QtCore import QObject, QtMsgType, Signal, Slot, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox

from app.logs import log_file

log = logging.getLogger("transferlab.crash")
_QT_LEVELS = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}


def summary(exc: BaseException) -> str:
    """The exception in one line: its type and the first line of its message."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def crash_message(what: str, at_start: bool = False) -> str:
    """What the user reads: what happened (:func:`summary`), whether the app is still open, where the log is."""
    if at_start:
        head, advice = "TransferLab could not start:", "Please send the log file to whoever gave you TransferLab."
    else:
        head = "TransferLab hit an unexpected error and could not finish what it was doing:"
        advice = "The app is still open. If something looks wrong, save what you need and restart it."
    return f"{head}\n\n{what}\n\n{advice}\n\nThe details are in the log file:\n{log_file()}"


def show_crash_dialog(message: str) -> None:
    """The crash dialog (tests replace this function with a recorder)."""
    box = QMessageBox(QMessageBox.Icon.Critical, "TransferLab: unexpected error", message,
                      QMessageBox.StandardButton.Ok, QApplication.activeWindow())
    box.exec()


class _Notifier(QObject):
    """Lives on the GUI thread, so a crash reported from any thread opens its dialog there."""

    crashed = Signal(str)  # the exception's summary

    def __init__(self, on_crash: Callable[[str], None] | None) -> None:
        super().__init__()
        self.on_crash = on_crash
        self.showing = False
        self.crashed.connect(self.present)

    @Slot(str)
    def present(self, what: str) -> None:
        if self.showing:  # one dialog at a time; the exception is in the log already
            return
        self.showing = True
        try:
            if self.on_crash is not None:
                self.on_crash(what)
            else:
                show_crash_dialog(crash_message(what))
        finally:
            self.showing = False


_notifier: _Notifier | None = None


def report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None, where: str) -> None:
    """Log an unhandled exception with its traceback, then tell the user (GUI thread, once at a time)."""
    log.critical("Unhandled exception in %s", where, exc_info=(exc_type, exc, tb))
    if _notifier is not None:
        try:
            _notifier.crashed.emit(summary(exc))
        except RuntimeError:  # the notifier is gone (the app is shutting down): the log has it
            pass


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    report(exc_type, exc, tb, f"thread {threading.current_thread().name}")


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "a thread"
    report(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")


def _qt_message(mode: QtMsgType, context, message: str) -> None:
    logging.getLogger("qt").log(_QT_LEVELS.get(mode, logging.WARNING), "%s", message)


def install_qt_message_log() -> None:
    """Qt's warnings into the log (call before the QApplication exists, to catch platform plugin errors)."""
    qInstallMessageHandler(_qt_message)


def install(on_crash: Callable[[str], None] | None = None) -> None:
    """Route unhandled exceptions to the log, then to ``on_crash(summary)`` (default: the crash dialog).

    Call on the GUI thread once the QApplication exists."""
    global _notifier
    if _notifier is not None:
        _notifier.deleteLater()
    _notifier = _Notifier(on_crash)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def uninstall() -> None:
    """Python's and Qt's default hooks again (tests)."""
    global _notifier
    sys.excepthook, threading.excepthook = sys.__excepthook__, threading.__excepthook__
    qInstallMessageHandler(None)
    if _notifier is not None:
        _notifier.deleteLater()
        _notifier = None
