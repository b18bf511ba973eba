"""A progress bar with a Cancel button, shown while a page's background task runs."""

from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget


class BusyRow(QWidget):
    def __init__(self, task, parent=None) -> None:
        super().__init__(parent)
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(task.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        self.hide()
