"""Starting the Qt application."""

import sys

from PySide6.QtWidgets import QApplication

from app import app_settings
from app.theme import apply_theme


def run_gui(argv: list[str] | None = None) -> int:
    app_settings.init_identity()
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    apply_theme(app)
    from app.main_window import MainWindow  # after QApplication: pages build widgets at import-free time
    window = MainWindow()
    window.show()
    return app.exec()
