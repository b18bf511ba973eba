"""Base class of the wizard's pages."""

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from app.state import WizardState
from app.tasks import Task


class MessageBanner(QWidget):
    """An inline, dismissable message (errors from the core appear here, never only on stderr)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("✕")
        close.setFlat(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        row.addWidget(self.label, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    COLOURS = {"error": ("#b3261e", "#fde7e7"), "info": ("#0b57d0", "#e8f0fe"), "ok": ("#146c2e", "#e6f4ea")}
    DARK_COLOURS = {"error": ("#f2b8b5", "#3c1f1e"), "info": ("#a8c7fa", "#1b2a41"), "ok": ("#a8dab5", "#1c3324")}

    def show_message(self, text: str, kind: str = "error") -> None:
        from app.theme import is_dark
        colours = self.DARK_COLOURS if is_dark(self.palette()) else self.COLOURS  # (light pink on a dark window:
        fg, bg = colours.get(kind, colours["info"])  # a walkthrough in dark mode)
        self.setStyleSheet(f"#messageBanner {{ background: {bg}; border: 1px solid {fg}; border-radius: 6px; }}"
                           f"#messageBanner QLabel, #messageBanner QPushButton {{ color: {fg}; }}")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.label.setText(text)
        self.show()
        # once laid out: a banner below a scrolled page is scrolled to (with self as context: never once it is gone)
        QTimer.singleShot(0, self, self._into_view)

    def _into_view(self) -> None:
        scroll = self.parentWidget()
        while scroll is not None and not isinstance(scroll, QScrollArea):
            scroll = scroll.parentWidget()
        if scroll is not None and self.isVisible():
            scroll.ensureWidgetVisible(self)

    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""


class VerticalScroll(QScrollArea):
    """Scrolls its page up and down when the window is too short, never sideways: the page's minimum
    width still holds the window open, so no text is clipped on the right."""

    def __init__(self, content: QWidget) -> None:
        super().__init__()
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # frameless, it showed no focus: Tab stopped on nothing visible
        self.viewport().setAutoFillBackground(False)
        content.setAutoFillBackground(False)
        content.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the page's minimum width changed: pass it on to the window
        return super().eventFilter(watched, event)

    def _bar(self) -> int:
        bar = self.verticalScrollBar()
        return bar.sizeHint().width() if bar.isVisible() else 0

    def minimumSizeHint(self) -> QSize:
        return QSize(self.widget().minimumSizeHint().width() + self._bar(), 80)

    def sizeHint(self) -> QSize:
        hint = self.widget().sizeHint()
        return QSize(hint.width() + self._bar(), hint.height())


class WizardPage(QWidget):
    """A step of the wizard. Subclasses fill ``self.body`` and override the hooks."""

    title = ""
    subtitle = ""
    completeChanged = Signal()
    focusReturned = Signal()  # the page's work ended: the focus goes back to its action or Next (main_window)

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.task = Task(self)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 20, 24, 12)
        outer.setSpacing(10)
        heading = QLabel(f"<h2 style='margin:0'>{self.title}</h2>")
        outer.addWidget(heading)
        if self.subtitle:
            sub = QLabel(self.subtitle)
            sub.setWordWrap(True)
            sub.setObjectName("subtitle")
            outer.addWidget(sub)
        self.banner = MessageBanner(self)
        outer.addWidget(self.banner)
        content = QWidget()
        self.body = QVBoxLayout(content)
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(10)
        outer.addWidget(VerticalScroll(content), 1)  # a short window scrolls the page instead of squeezing it
        self.footer = QVBoxLayout()  # below the scrolled part, always in view: a page's own action buttons
        self.footer.setSpacing(6)
        outer.addLayout(self.footer)
        self.task.failed.connect(lambda msg: self.banner.show_message(msg, "error"))

    def on_enter(self) -> None:
        """Called each time the page is shown."""

    def is_complete(self) -> bool:
        """Whether Next may be pressed."""
        return True

    def focus_target(self) -> QWidget | None:
        """Where the keyboard focus goes when the page is shown (None: Next, when it is enabled)."""
        return None

    def is_busy(self) -> bool:
        return self.task.is_running()

    def start_folder(self, key: str) -> str:
        """Where a file dialog opens: where the last one of its kind was left, else beside the dataset folder
        (not the home folder: the user's images are rarely there)."""
        from pathlib import Path

        from app import app_settings
        scan = getattr(self.state, "scan", None)
        return app_settings.get_str(key, str(scan.root.parent if scan is not None else Path.home()))

    def holds_navigation(self) -> bool:
        """Whether Back and the step list wait for this page's work (else leaving the page stops it: on_leave)."""
        return self.is_busy()

    def on_leave(self) -> None:
        """Called when another page is shown instead of this one."""

    def shutdown(self) -> None:
        """Cancel background work and wait for it (window closing)."""
        if self.task.is_running():
            self.task.cancel()
            self.task.wait(15000)
