"""Starting the Qt application."""

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app import app_settings
from app.theme import apply_theme


QUIT_AFTER_SHOW_ENV = "TRANSFERLAB_QUIT_AFTER_SHOW"


def run_gui(argv: list[str] | None = None) -> int:
    app_settings.init_identity()
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    apply_theme(app)
    from app.main_window import MainWindow  # after QApplication: pages build widgets at import-free time
    window = MainWindow()
    window.show()
    if os.environ.get(QUIT_AFTER_SHOW_ENV):  # bench/startup.py: how long until the window is up
        QTimer.singleShot(0, lambda: (print("window shown", flush=True), window.close(), app.quit()))
    return app.exec()
