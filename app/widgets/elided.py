"""Long paths that never hold the window wide: shortened in the middle (the whole path on hover), or given places
to wrap. A walkthrough's window grew wider with a deeply nested folder, because a label cannot wrap inside a word."""

import re

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

ZERO_WIDTH_SPACE = "\u200b"


class ElidedLabel(QLabel):
    """A one-line plain-text label that shows its text shortened in the middle when narrow; the tooltip has it all.
    Set it with ``show_whole`` (``setText`` would set what is shown, unshortened)."""

    def __init__(self, text: str = "", parent=None) -> None:
        super().__init__(parent)
        self._whole = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.show_whole(text)

    def show_whole(self, text: str) -> None:
        self._whole = text
        self.setToolTip(text)
        self._elide()

    def whole(self) -> str:
        return self._whole

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance("…") * 8, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance(self._whole) + 8, super().sizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._whole, Qt.TextElideMode.ElideMiddle, max(1, self.width()))
        self.setText(shown)


def breakable(path: str) -> str:
    """``path`` with a zero-width space after each separator, so a word-wrapped label may wrap it there."""
    return re.sub(r"([/\\_.-])", rf"\1{ZERO_WIDTH_SPACE}", path)
