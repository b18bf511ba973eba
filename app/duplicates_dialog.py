"""The data check's duplicate groups as pictures: the same picture under different classes first (a
label is wrong), then copies within a class; each picture with its class, its path and "Open folder".
Nothing here writes to the dataset (relabelling and excluding come with the label sheet)."""

import html
import re
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QGridLayout, QHBoxLayout, QLabel, QListWidget, QPushButton,
                               QScrollArea, QVBoxLayout, QWidget)

from app.widgets.images import pixmap_from_array
from core.data.health import copies_words, duplicate_sentences

PICTURE = 180


def group_title(index: int, group: dict) -> str:
    """'1. Different classes: 3 copies in grass, 1 in brick · exact'."""
    kind = "Different classes" if group["cross_class"] else "Within a class"
    how = "exact" if group["exact"] else "near-identical"
    return f"{index + 1}. {kind}: {copies_words(group['classes'])} · {how}"


class DuplicatesDialog(QDialog):
    def __init__(self, root: Path, groups: list[dict], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Duplicate pictures in the dataset")
        self.resize(900, 560)
        self.root = Path(root)
        self.groups = sorted(groups, key=lambda g: not g["cross_class"])  # conflicts first
        counts = " ".join(re.sub(r"^(\d+)", r"<b>\1</b>", html.escape(s)) for s in duplicate_sentences(groups))
        self.intro = intro = QLabel(f"{counts} Pick a picture on the left to see its copies side by side.")
        intro.setWordWrap(True)
        self.list = QListWidget()
        self.list.setMaximumWidth(320)
        self.list.setWordWrap(True)  # long class names wrap instead of being cut off
        for i, g in enumerate(self.groups):
            self.list.addItem(group_title(i, g))
            self.list.item(self.list.count() - 1).setToolTip(group_title(i, g))
        self.pictures = QWidget()
        self.grid = QGridLayout(self.pictures)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.pictures)
        row = QHBoxLayout()
        row.addWidget(self.list)
        row.addWidget(scroll, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row, 1)
        layout.addWidget(buttons)
        self.list.currentRowChanged.connect(self.show_group)
        if self.groups:
            self.list.setCurrentRow(0)

    def show_group(self, index: int) -> None:
        from core.data.thumbnails import thumbnail
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        if not 0 <= index < len(self.groups):
            return
        group = self.groups[index]
        for column, (rel, cls) in enumerate(zip(group["paths"], group["classes"])):
            path = self.root / rel
            picture = QLabel()
            picture.setFixedSize(PICTURE, PICTURE)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            array = thumbnail(path, PICTURE)
            if array is not None:
                picture.setPixmap(pixmap_from_array(array))
            caption = QLabel(f"<b>{html.escape(cls)}</b><br>{html.escape(rel)}")
            caption.setWordWrap(True)
            caption.setMaximumWidth(PICTURE + 40)
            caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            open_button = QPushButton("Open folder")
            open_button.setToolTip(str(path.parent))
            open_button.clicked.connect(lambda _=False, folder=path.parent: self.open_folder(folder))
            self.grid.addWidget(picture, 0, column)
            self.grid.addWidget(caption, 1, column, Qt.AlignmentFlag.AlignTop)
            self.grid.addWidget(open_button, 2, column, Qt.AlignmentFlag.AlignTop)

    def shown_paths(self) -> list[str]:
        return [html.unescape(self.grid.itemAtPosition(1, c).widget().text().split("<br>")[1])
                for c in range(self.grid.columnCount()) if self.grid.itemAtPosition(1, c)]

    @staticmethod
    def open_folder(folder: Path) -> bool:
        """Show the folder in the file manager (it is only opened, never written to)."""
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
