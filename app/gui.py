"""Starting the Qt application: logging and crash reporting first, then the window."""

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


def run_gui(argv: list[str] | None = None) -> int:
    start_logging()
    app_settings.init_identity()
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    crash.install()
    apply_theme(app)
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
