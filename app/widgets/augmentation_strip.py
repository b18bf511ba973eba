"""A row of augmented example pictures with a Shuffle button and a status line (the Freeze step's examples)."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFrame, QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy,
                               QVBoxLayout, QWidget)

from app.widgets.images import fitted_pixmap

PREVIEW_SIZE = 110


class AugmentationStrip(QGroupBox):
    def __init__(self, count: int, parent: QWidget | None = None) -> None:
        super().__init__("Augmentation examples: what training images may look like", parent)
        row = QHBoxLayout(self)
        row.setSpacing(6)
        strip = QWidget()
        strip_row = QHBoxLayout(strip)
        strip_row.setContentsMargins(0, 0, 0, 0)
        strip_row.setSpacing(6)
        self.labels: list[QLabel] = []
        for _ in range(count):
            label = QLabel()
            label.setFixedSize(PREVIEW_SIZE, PREVIEW_SIZE)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setFrameShape(QFrame.Shape.StyledPanel)
            self.labels.append(label)
            strip_row.addWidget(label)
        strip_row.addStretch(1)
        scroll = QScrollArea()  # narrow windows scroll the strip instead of growing the page
        scroll.setWidget(strip)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedHeight(PREVIEW_SIZE + scroll.horizontalScrollBar().sizeHint().height() + 2)
        scroll.setMaximumWidth(count * (PREVIEW_SIZE + 6) + 4)
        row.addWidget(scroll, 1)
        side_widget = QWidget()
        side_widget.setMaximumWidth(max(160, self.fontMetrics().horizontalAdvance("Shuffle") * 3))
        side = QVBoxLayout(side_widget)
        side.setContentsMargins(0, 0, 0, 0)
        self.shuffle_button = QPushButton("Shuffle")
        self.shuffle_button.setToolTip("Show other random variations")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        side.addWidget(self.shuffle_button)
        side.addWidget(self.status)
        side.addStretch(1)
        row.addWidget(side_widget)

    def show_arrays(self, arrays: list) -> None:
        """Show uint8 RGB arrays (as core.training.preview makes them); the rest of the row is cleared."""
        for i, label in enumerate(self.labels):
            if i < len(arrays):
                label.setPixmap(fitted_pixmap(arrays[i], PREVIEW_SIZE - 4))
            else:
                label.clear()

    def pixmaps(self) -> list:
        """The example pictures now shown."""
        return [p for p in (label.pixmap() for label in self.labels) if p is not None and not p.isNull()]
