"""Starting the Qt application."""

import sys

from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow


def run_gui(argv: list[str] | None = None) -> int:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("TransferLab")
    window = MainWindow()
    window.show()
    return app.exec()
