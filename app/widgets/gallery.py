"""A strip of scored images (true class, predicted class, confidence) and, for the one clicked, what
the model looked at (Grad-CAM). Thumbnails and heatmaps are made in the background."""

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem, QMenu,
                               QPushButton, QVBoxLayout, QWidget)

from app import app_settings
from app.glossary import explain
from app.tasks import Task
from app.widgets.images import fitted_pixmap, pixmap_from_array
from core.data.label_sheet import EXCLUDED

THUMB = 96
PREVIEW = 200
CAPTION_WIDTH = 220


def _thumbnails(paths: list[str], ctx) -> list:
    from core.data.thumbnails import thumbnail
    out = []
    for i, path in enumerate(paths):
        ctx.cancel.raise_if_cancelled()
        out.append(thumbnail(Path(path), THUMB))
        ctx.progress(i + 1, len(paths), "Loading pictures")
    return out


EMPTY_TITLE = "Click a cell of the confusion matrix, or <b>Top losses</b>, to see the images here."


class Gallery(QWidget):
    """``show_items(title, items)``: items are evaluation rows (path, true, predicted, confidence, loss)."""

    explainRequested = Signal(str)
    relabelRequested = Signal(str, str)  # path, new label (core.data.label_sheet.EXCLUDED to leave it out)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.title = QLabel(EMPTY_TITLE)
        self.title.setWordWrap(True)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 44, THUMB + 44))
        self.list.setFixedHeight(THUMB + 64)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.currentItemChanged.connect(self._picked)
        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW, PREVIEW)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_caption = QLabel()
        self.preview_caption.setWordWrap(True)
        self.preview_caption.setFixedWidth(CAPTION_WIDTH)
        self.heat_check = QCheckBox("Show what the model looks at")
        self.heat_check.setToolTip(explain("Grad-CAM (heatmap)"))
        self.heat_check.setChecked(app_settings.get_bool(app_settings.HEATMAPS, True))
        self.heat_check.toggled.connect(self._show_preview)
        self.heat_check.toggled.connect(lambda on: app_settings.set_value(app_settings.HEATMAPS, on))
        words = QVBoxLayout()  # beside the picture, not below it: a squeezed page cannot draw them over it
        words.addWidget(self.heat_check)
        words.addWidget(self.preview_caption)
        self.relabel_button = QPushButton("Relabel as…")
        self.relabel_button.setToolTip("This image's label is wrong: give it another class in your label sheet, "
                                       "kept apart from the folder (the folder is not changed)")
        self.relabel_button.clicked.connect(self._relabel_menu)
        self.exclude_button = QPushButton("Exclude")
        self.exclude_button.setToolTip("Leave this image out of training and evaluation (it stays in your folder)")
        self.exclude_button.clicked.connect(lambda: self._request(EXCLUDED))
        actions = QHBoxLayout()
        actions.addWidget(self.relabel_button)
        actions.addWidget(self.exclude_button)
        actions.addStretch(1)
        words.addLayout(actions)
        self.can_relabel = False  # images of the dataset (not of a test folder): their labels can be corrected
        self.decided: dict[str, str] = {}  # path -> what was done to it here, shown under its thumbnail
        words.addStretch(1)
        side = QHBoxLayout()
        side.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignTop)
        side.addLayout(words)
        left = QVBoxLayout()
        left.addWidget(self.title)
        left.addWidget(self.list)
        left.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addLayout(left, 1)
        row.addLayout(side)
        self.setMinimumHeight(PREVIEW + 4)
        self.classes: list[str] = []
        self.items: list[dict] = []
        self._explained: dict[str, tuple] = {}
        self._pending: list[str] = []
        self.thumb_task = Task(self)
        self.thumb_task.finished.connect(self._on_thumbnails)
        self.thumb_task.stopped.connect(self._start_pending)

    def set_classes(self, classes: list[str], can_relabel: bool = False) -> None:
        """A new evaluation: nothing of the previous one stays (pictures, caption, title). ``can_relabel``: its
        images are the dataset's, so Relabel and Exclude are offered."""
        self.classes = list(classes)
        self.can_relabel, self.decided = can_relabel, {}
        self._explained.clear()
        self.thumb_task.cancel()
        self._pending = []
        self.clear()
        self.title.setText(EMPTY_TITLE)

    def clear(self) -> None:
        self.list.clear()
        self.items = []
        self.preview.clear()
        self.preview_caption.clear()
        self._update_actions()

    def show_items(self, title: str, items: list[dict]) -> None:
        self.thumb_task.cancel()
        self.clear()
        self.title.setText(title if items else f"{title}: none.")
        self.items = items
        for item in items:
            entry = QListWidgetItem(self._caption(item))
            entry.setToolTip(item["path"])
            entry.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.list.addItem(entry)
        self._pending = [i["path"] for i in items]
        self._start_pending()
        if items:  # the first picture's heatmap shows at once; a click shows another's
            self.list.setCurrentRow(0)

    def _start_pending(self) -> None:
        """One thumbnail job at a time; a newer selection waits for the cancelled one to end."""
        if self._pending and not self.thumb_task.is_running():
            paths, self._pending = self._pending, []
            self.thumb_task.start(lambda ctx: (paths, _thumbnails(paths, ctx)))

    def _caption(self, item: dict) -> str:
        true, predicted = self.classes[item["true"]], self.classes[item["predicted"]]
        done = self.decided.get(item["path"])
        return (f"{true} → {predicted}\n{item['confidence']:.0%}" if true != predicted else
                f"{true}\n{item['confidence']:.0%}") + (f"\n✓ {done}" if done else "")

    def _relabel_menu(self) -> QMenu | None:
        row = self.list.currentRow()
        if not (self.can_relabel and 0 <= row < len(self.items)):
            return None
        item, menu = self.items[row], QMenu(self)
        answer = self.classes[item["predicted"]]
        order = [answer] + [c for c in self.classes if c != answer]  # the model's answer first
        for name in order:
            if name != self.classes[item["true"]]:
                menu.addAction(name + ("  (the model's answer)" if name == answer else ""),
                               lambda n=name: self._request(n))
        menu.popup(self.relabel_button.mapToGlobal(self.relabel_button.rect().bottomLeft()))
        return menu

    def _request(self, label: str) -> None:
        path = self.current_path()
        if path is not None and self.can_relabel:
            self.relabelRequested.emit(path, label)

    def mark(self, path: str, words: str) -> None:
        """What was done to ``path`` (relabelled, excluded), shown under its thumbnail from now on."""
        self.decided[path] = words
        for row, item in enumerate(self.items):
            if item["path"] == path:
                self.list.item(row).setText(self._caption(item))
        self._update_actions()

    def _update_actions(self) -> None:
        path = self.current_path()
        on = self.can_relabel and path is not None
        self.relabel_button.setVisible(self.can_relabel)
        self.exclude_button.setVisible(self.can_relabel)
        self.relabel_button.setEnabled(on)
        self.exclude_button.setEnabled(on)

    def _on_thumbnails(self, result) -> None:
        paths, thumbs = result
        if paths != [i["path"] for i in self.items]:
            return  # the gallery shows something else by now
        for row, thumb in enumerate(thumbs):
            if thumb is not None:
                pixmap = pixmap_from_array(thumb)
                if max(pixmap.width(), pixmap.height()) < THUMB:  # tiny images: enlarge to be seen
                    pixmap = pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)
                self.list.item(row).setIcon(QIcon(pixmap))

    def _picked(self, current, _previous) -> None:
        self._update_actions()
        row = self.list.row(current) if current is not None else -1
        if 0 <= row < len(self.items):
            path = self.items[row]["path"]
            if path not in self._explained:
                self.preview_caption.setText("Working out what the model looks at…")
                self.explainRequested.emit(path)
            self._show_preview()

    def set_explanation(self, path: str, image, overlay, method: str) -> None:
        self._explained[path] = (image, overlay, method)
        self._show_preview()

    def current_path(self) -> str | None:
        row = self.list.currentRow()
        return self.items[row]["path"] if 0 <= row < len(self.items) else None

    def _show_preview(self) -> None:
        path = self.current_path()
        if path is None or path not in self._explained:
            return
        image, overlay, method = self._explained[path]
        picture = overlay if self.heat_check.isChecked() else image
        self.preview.setPixmap(fitted_pixmap(picture, PREVIEW))
        item = self.items[self.list.currentRow()]
        self.preview_caption.setText(f"<b>{Path(path).name}</b><br>true: {self.classes[item['true']]}, predicted: "
                                     f"{self.classes[item['predicted']]} ({item['confidence']:.1%})<br>"
                                     "<span style='font-size:9pt'>Warm colours raised the score of the predicted "
                                     "class; dimmed parts lie outside the square the model sees.</span>")
        self.preview_caption.setToolTip(f"Drawn by {method}: see “Words explained”")  # the method's name, not shown
