"""Starting the Qt application: logging and crash reporting first, then the window."""

import gc
import logging
import os
import platform
import sys

from PySide6.QtCore import QTimer, qVersion
from PySide6.QtWidgets import QApplication

from app import app_settings, crash
from app.logs import setup_logging
from app.theme import apply_theme

QUIT_AFTER_SHOW_ENV = "TRANSFERLAB_QUIT_AFTER_SHOW"
log = logging.getLogger("transferlab.gui")


def start_logging() -> None:
    """Log file, faulthandler and Qt's messages (cheap: no torch)."""
    path = setup_logging()
    crash.install_qt_message_log()
    # sys.platform, not platform.platform(): on Windows that may run "cmd /c ver" and flash a console window
    log.info("TransferLab starting: Python %s, Qt %s, %s%s; log %s", platform.python_version(), qVersion(),
             sys.platform, " (packaged)" if getattr(sys, "frozen", False) else "", path)


def collect_garbage_on_gui_thread(app: QApplication, interval_ms: int = 1000) -> QTimer:
    """Python's cyclic garbage collector runs in whichever thread crosses its threshold; in a worker
    thread it can destroy widgets there and deadlock with Qt (seen in a background weights import).
    Automatic collection is turned off and done on a timer on the GUI thread instead, as pyqtgraph's
    GarbageCollector does."""
    gc.disable()
    timer = QTimer(app)
    timer.timeout.connect(_collect_due_generations)
    timer.start(interval_ms)
    return timer


def _collect_due_generations() -> None:
    counts, thresholds = gc.get_count(), gc.get_threshold()
    due = [g for g in range(3) if counts[g] > thresholds[g]]
    if due and due[0] == 0:
        gc.collect(max(g for g in due if all(d in due for d in range(g + 1))))


def run_gui(argv: list[str] | None = None) -> int:
    start_logging()
    app_settings.init_identity()
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    collect_garbage_on_gui_thread(app)
    crash.install()
    from app.widgets.appearance_button import dark_wanted
    apply_theme(app, dark_wanted())
    try:
        from app.main_window import MainWindow  # after QApplication: pages build widgets at import-free time
        window = MainWindow()
    except Exception as exc:  # the window cannot even open: say why instead of vanishing
        log.critical("The window could not be opened", exc_info=True)
        crash.show_crash_dialog(crash.crash_message(crash.summary(exc), at_start=True))
        return 1
    window.show()
    if os.environ.get(QUIT_AFTER_SHOW_ENV):  # bench/startup.py: how long until the window is up
        QTimer.singleShot(0, lambda: (print("window shown", flush=True), window.close(), app.quit()))
    code = app.exec()
    log.info("TransferLab closed (exit code %s)", code)
    return code
