"""The Data step's "Skipped files": each file the scan left out, with why, one line each."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QGroupBox, QListWidget, QListWidgetItem, QVBoxLayout

from core.data.dataset import EMPTY_FOLDER
from core.data.items import relative

ROWS = 6  # lines always in view (a walkthrough's messy folder got a box too short to read one)


class SkippedFiles(QGroupBox):
    """A list of "path — reason" lines, one line each, shortened in the middle where too long: a long file name
    without spaces widened the window, and lines wrapped to a few letters were unreadable. Each line's tooltip has
    the whole path and reason."""

    def __init__(self, parent=None) -> None:
        super().__init__("Skipped files", parent)
        self.files = QListWidget()
        self.files.setWordWrap(False)
        self.files.setUniformItemSizes(True)
        self.files.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a long name loses its middle, not the reason
        self.files.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.files.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.files.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        line = self.files.fontMetrics().lineSpacing() + 4
        bar = self.files.horizontalScrollBar().sizeHint().height()
        self.files.setMinimumHeight(ROWS * line + bar + 2 * self.files.frameWidth())
        self.files.setMinimumWidth(120)  # its lines are shortened: no minimum of their own
        layout = QVBoxLayout(self)
        layout.addWidget(self.files)
        self.hide()

    def show_files(self, skipped, root) -> None:
        """``skipped``: the scan's SkippedFile list; paths are shown relative to ``root``, in full on hover."""
        self.files.clear()
        for entry in skipped:
            item = QListWidgetItem(f"{relative(entry.path, root)} — {entry.reason}")
            item.setToolTip(f"{entry.path}\n{entry.reason}")
            self.files.addItem(item)
        folders = " and folders" * any(s.reason == EMPTY_FOLDER for s in skipped)  # an empty folder is no file
        self.setTitle(f"Skipped files{folders} ({len(skipped)})" if skipped else "Skipped files")
        self.setVisible(bool(skipped))
