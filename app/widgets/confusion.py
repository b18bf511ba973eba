"""The confusion matrix as a table: rows are the true class, columns the predicted class."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

CORRECT = QColor(46, 160, 67)
WRONG = QColor(217, 48, 37)


def _mix(colour: QColor, share: float, base: QColor) -> QColor:
    share = max(0.0, min(1.0, share))
    return QColor(int(base.red() + (colour.red() - base.red()) * share),
                  int(base.green() + (colour.green() - base.green()) * share),
                  int(base.blue() + (colour.blue() - base.blue()) * share))


class ConfusionMatrixWidget(QTableWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("Rows: the true class. Columns: what the model predicted. The diagonal is correct.")

    def set_matrix(self, matrix: list[list[int]], classes: list[str]) -> None:
        k = len(classes)
        self.setRowCount(k)
        self.setColumnCount(k)
        self.setHorizontalHeaderLabels([f"→ {c}" for c in classes])
        self.setVerticalHeaderLabels(classes)
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
