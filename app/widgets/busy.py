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

    def begin(self) -> None:
        """A job starts: a busy bar with no words yet, Cancel available."""
        self.progress.setRange(0, 0)
        self.progress.setFormat("")
        self.cancel_button.setEnabled(True)
        self.show()

    def report(self, done: int, total: int, message: str) -> None:
        """A task's progress signal: "message  done / total", or the message alone (a busy bar) without a total."""
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{message}  %v / %m" if total else message)
