"""Light or dark palette for the Fusion style, following the system colour scheme."""

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleFactory

FOCUS_WIDTH = 2  # pixels of the keyboard-focus ring, in the palette's highlight colour
# Fusion outlines a check box or radio button in the window colour darkened: nearly black on a dark window,
# so in dark mode the box is all but invisible (a walkthrough missed "Allow very large images"). In dark mode
# a light grey outline is drawn over it; light mode keeps Fusion's own.
DARK_INDICATOR_EDGE = "#9aa0a6"
DARK_INDICATOR_EDGE_DISABLED = "#5f6368"
INDICATORS = (QStyle.PrimitiveElement.PE_IndicatorCheckBox, QStyle.PrimitiveElement.PE_IndicatorRadioButton)


class VisibleFocusStyle(QProxyStyle):
    """Fusion with a keyboard-focus ring that can be seen in light and dark mode: Fusion's own is a
    faint tint of the button's outline."""

    def __init__(self) -> None:
        super().__init__(QStyleFactory.create("Fusion"))

    def drawPrimitive(self, element, option, painter, widget=None) -> None:  # noqa: N802 - Qt API
        super().drawPrimitive(element, option, painter, widget)
        if element in INDICATORS and is_dark(option.palette):
            _indicator_edge(element, option, painter)
        focused = bool(option.state & QStyle.StateFlag.State_HasFocus)
        if element == QStyle.PrimitiveElement.PE_FrameFocusRect or (focused and element in (
                QStyle.PrimitiveElement.PE_PanelButtonCommand, QStyle.PrimitiveElement.PE_FrameLineEdit)):
            _ring(option, painter)
        elif element == QStyle.PrimitiveElement.PE_Frame and widget is not None and widget.hasFocus():
            _ring(option, painter)  # a list, table or text box: Fusion marks its focus not at all

    def drawComplexControl(self, control, option, painter, widget=None) -> None:  # noqa: N802 - Qt API
        super().drawComplexControl(control, option, painter, widget)
        # Fusion marks a focused drop-down list or number field by a tint of its 1-px outline only, a slider not at all
        if option.state & QStyle.StateFlag.State_HasFocus and control in (
                QStyle.ComplexControl.CC_ComboBox, QStyle.ComplexControl.CC_SpinBox, QStyle.ComplexControl.CC_Slider):
            _ring(option, painter)


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def _indicator_edge(element, option, painter) -> None:
    enabled = bool(option.state & QStyle.StateFlag.State_Enabled)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(DARK_INDICATOR_EDGE if enabled else DARK_INDICATOR_EDGE_DISABLED), 1))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    box = QRectF(option.rect).adjusted(0.5, 0.5, -0.5, -0.5)
    if element == QStyle.PrimitiveElement.PE_IndicatorRadioButton:
        painter.drawEllipse(box)
    else:
        painter.drawRoundedRect(box, 1, 1)
    painter.restore()


def _ring(option, painter) -> None:
    painter.save()
    painter.setPen(QPen(option.palette.color(QPalette.ColorRole.Highlight), FOCUS_WIDTH))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRoundedRect(option.rect.adjusted(1, 1, -1, -1), 2, 2)
    painter.restore()


def system_prefers_dark(app: QApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    p = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    colours = {
        role.Window: "#202124", role.WindowText: "#e8eaed", role.Base: "#171717", role.AlternateBase: "#2a2b2e",
        role.ToolTipBase: "#303134", role.ToolTipText: "#e8eaed", role.Text: "#e8eaed", role.Button: "#2d2e31",
        role.ButtonText: "#e8eaed", role.BrightText: "#ffffff", role.Highlight: "#4c8bf5",
        role.HighlightedText: "#ffffff", role.Link: "#8ab4f8", role.PlaceholderText: "#9aa0a6",
        role.Light: "#3c4043", role.Midlight: "#35363a", role.Mid: "#2a2b2e", role.Dark: "#121212",
        role.Shadow: "#000000",
    }
    for r, c in colours.items():
        p.setColor(r, QColor(c))
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, r, QColor("#6f7378"))
    return p


def apply_theme(app: QApplication, dark: bool | None = None) -> bool:
    """Fusion style with a light or dark palette; ``None`` follows the system. Returns whether dark."""
    app.setStyle(VisibleFocusStyle())
    dark = system_prefers_dark(app) if dark is None else dark
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    return dark
