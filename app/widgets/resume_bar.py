"""Offers to resume a training run that was interrupted (the app was killed or the computer went off)."""

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from core.training.runs import when_words


HOW_IT_STOPPED = {"paused": "stopped when TransferLab was closed", "cancelled": "cancelled",
                  "failed": "stopped by an error"}  # anything else: the process died (a crash, a power cut)


def describe_run(record: dict) -> str:
    settings = record.get("settings", {})
    epochs = settings.get("epochs", "?")
    how = HOW_IT_STOPPED.get(record.get("status", ""), "interrupted")
    root = Path(record.get("dataset_root", "?"))
    where = f"{root.parent.name}/{root.name}" if root.parent.name else root.name  # "textures/train", not "train"
    when = when_words(str(record.get("updated", "")))
    return (f"Training <b>{html.escape(str(settings.get('model_name', 'a model')))}</b> on the images in "
            f"<b title='{html.escape(str(root))}'>{html.escape(where)}</b> was {how} after epoch "
            f"{record.get('checkpoint_epoch', '?')} of {epochs} ({html.escape(when)}). Resume it where it left off?")


class ResumeBar(QFrame):
    resumeRequested = Signal(dict)
    discardRequested = Signal(dict)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("resumeBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.resume_button = QPushButton("Resume")
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Stop offering this run (its files stay where they are)")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        row.addWidget(self.label, 1)
        row.addWidget(self.resume_button)
        row.addWidget(self.discard_button)
        self.resume_button.clicked.connect(lambda: self.resumeRequested.emit(self.record))
        self.discard_button.clicked.connect(lambda: self.discardRequested.emit(self.record))
        self.record: dict = {}
        self.hide()

    def offer(self, record: dict | None, more: int = 0) -> None:
        if not record:
            self.hide()
            return
        self.record = record
        self.resume_button.setEnabled(True)
        extra = f" ({more} more interrupted run{'s' if more > 1 else ''} after this one.)" if more else ""
        self.label.setText(describe_run(record) + extra)
        self.show()

    def message(self, text: str) -> None:
        self.label.setText(text)
        self.resume_button.setEnabled(False)
