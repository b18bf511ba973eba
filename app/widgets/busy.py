"""A progress bar with a Cancel button, shown while a page's background task runs."""

from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget


class BusyRow(QWidget):
    def __init__(self, task, parent=None, unit: str = "") -> None:
        """``unit``: what the task's counts count ("images"), shown as "3 of 12 images"; none: the share done in
        percent (core's long functions report through ``within(…, 100)``, so their totals are percentages)."""
        super().__init__(parent)
        self.unit = unit
        self.said = ""  # the last words the task said: a report without words keeps them (core.base.progress)
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(task.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        self.hide()

    def begin(self, words: str = "") -> None:
        """A job starts: a busy bar saying ``words`` (what is being done), Cancel available."""
        self.said = words
        self.progress.setRange(0, 0)
        self.progress.setFormat(words)
        self.cancel_button.setEnabled(True)
        self.show()

    def report(self, done: int, total: int, message: str) -> None:
        """A task's progress signal: "what is done: 45%" (or "3 of 12 images" with a unit); without a total the
        words alone on a busy bar."""
        self.said = message or self.said
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        amount = (f"%v of %m {self.unit}" if self.unit else "%p%") if total else ""
        self.progress.setFormat(": ".join(part for part in (self.said, amount) if part))
