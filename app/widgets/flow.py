"""A row of buttons that wraps onto the next line when it is narrow, instead of holding the window wide."""

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout


class FlowLayout(QLayout):
    """Lays its widgets left to right and starts a new line where the next one does not fit. Its minimum width is
    its widest widget's, so a row of several buttons never sets the window's minimum width (a walkthrough's Data
    step grew wider once the dataset check showed two buttons side by side, and wider still with four)."""

    def __init__(self, parent=None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._entries = []
        self.setContentsMargins(0, 0, 0, 0)
        self.setSpacing(spacing)

    def addItem(self, item) -> None:
        self._entries.append(item)

    def count(self) -> int:
        return len(self._entries)

    def itemAt(self, index: int):
        return self._entries[index] if 0 <= index < len(self._entries) else None

    def takeAt(self, index: int):
        return self._entries.pop(index) if 0 <= index < len(self._entries) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        shown = [item.sizeHint() for item in self._shown()]
        if not shown:
            return QSize(0, 0)
        return QSize(sum(s.width() for s in shown) + self.spacing() * (len(shown) - 1), max(s.height() for s in shown))

    def minimumSize(self) -> QSize:
        size = QSize(0, 0)
        for item in self._shown():
            size = size.expandedTo(item.minimumSize())
        return size

    def _shown(self) -> list:
        return [item for item in self._entries if not (item.widget() is not None and item.widget().isHidden())]

    def _arrange(self, rect: QRect, move: bool) -> int:
        """Places the shown widgets in lines within ``rect`` (or only measures them); the height they take."""
        x, y, line = rect.x(), rect.y(), 0
        space = self.spacing()
        for item in self._shown():
            hint = item.sizeHint()
            if x > rect.x() and x + hint.width() > rect.right() + 1:  # does not fit: a new line
                x, y, line = rect.x(), y + line + space, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), QSize(min(hint.width(), rect.width()), hint.height())))
            x += hint.width() + space
            line = max(line, hint.height())
        return y + line - rect.y()

