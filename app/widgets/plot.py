"""Every chart in the window: a pyqtgraph PlotWidget that is no Tab stop."""

import pyqtgraph as pg
from PySide6.QtCore import Qt


def plot_widget(**kwargs) -> pg.PlotWidget:
    """A chart, zoomed with the mouse. It takes no keys and draws no focus, so Tab passes it by
    (a walkthrough found Tab stopping on charts with nothing visibly focused)."""
    plot = pg.PlotWidget(**kwargs)
    plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    plot.getPlotItem().hideButtons()  # no small "A" (auto-range) button on hover: a riddle to a domain expert
    return plot
