"""The confusion matrix as a table: rows are the true class, columns the predicted class."""

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

CORRECT = QColor(46, 160, 67)
WRONG = QColor(217, 48, 37)


def _mix(colour: QColor, share: float, base: QColor) -> QColor:
    share = max(0.0, min(1.0, share))
    return QColor(int(base.red() + (colour.red() - base.red()) * share),
                  int(base.green() + (colour.green() - base.green()) * share),
                  int(base.blue() + (colour.blue() - base.blue()) * share))


LEGEND_NAME = 110  # pixels, at most, of a class name in a numbered matrix's row headers (whole on hover)


class ConfusionMatrixWidget(QTableWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setTextElideMode(Qt.TextElideMode.ElideRight)  # "→ gravel…", not a cut-off word
        self.horizontalHeader().setMinimumSectionSize(18)  # 13 numbered columns fit Results' 1100 px window
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("Rows: the true class. Columns: what the model predicted. The diagonal is correct. "
                        "Click a cell, or move to it with the arrow keys and press Enter, to see its images.")
        self.setTabKeyNavigation(False)  # Tab moves on to the next control; arrows move between cells
        self.setProperty("ownsEnter", True)  # Enter opens the cell here, it does not mean Next
        self.classes: list[str] = []

    def event(self, event) -> bool:  # noqa: D102 - Qt API
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) \
                and self.currentRow() >= 0:
            event.accept()  # the window's Enter-means-Next shortcut does not take it from this table
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentRow() >= 0:
            self.cellClicked.emit(self.currentRow(), max(0, self.currentColumn()))
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._name_columns()

    def _name_columns(self) -> None:
        """Columns headed "→ name" where every name fits its column; otherwise numbered, each row headed
        "number  name" so the rows are the columns' legend (the whole name is in each header's tooltip)."""
        k = len(self.classes)
        if not k or self.horizontalHeaderItem(k - 1) is None:
            return
        metrics = self.horizontalHeader().fontMetrics()
        short = [metrics.elidedText(c, Qt.TextElideMode.ElideMiddle, LEGEND_NAME) for c in self.classes]
        legend = max(metrics.horizontalAdvance(f"{k}  {c}") for c in short) + 16
        room = (self.width() - legend - 2 * self.frameWidth()) / k - 12  # as if numbered: one answer at any width
        numbered = any(metrics.horizontalAdvance(f"→ {c}") > room for c in self.classes)
        for i, name in enumerate(self.classes):
            self.horizontalHeaderItem(i).setText(str(i + 1) if numbered else f"→ {name}")
            self.verticalHeaderItem(i).setText(f"{i + 1}  {short[i]}" if numbered else name)

    def set_matrix(self, matrix: list[list[int]], classes: list[str]) -> None:
        k = len(classes)
        self.setRowCount(k)
        self.setColumnCount(k)
        self.classes = list(classes)
        self.setHorizontalHeaderLabels([f"→ {c}" for c in classes])
        self.setVerticalHeaderLabels(classes)
        self._name_columns()
        for i, name in enumerate(classes):  # a long name shortened in its header is whole in its tooltip
            self.horizontalHeaderItem(i).setToolTip(f"Predicted as {name}")
            self.verticalHeaderItem(i).setToolTip(f"Really {name}")
        base = self.palette().color(self.backgroundRole())
        for r in range(k):
            total = sum(matrix[r]) or 1
            for c in range(k):
                n = matrix[r][c]
                item = QTableWidgetItem(str(n))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                share = n / total
                background = _mix(CORRECT if r == c else WRONG, share * 0.85 if n else 0.0, base)
                item.setBackground(background)
                item.setForeground(QColor("black") if background.lightness() > 140 else QColor("white"))
                item.setToolTip(f"{n} image(s) of {classes[r]} predicted as {classes[c]}")
                self.setItem(r, c, item)
