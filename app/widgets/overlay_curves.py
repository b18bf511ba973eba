"""Validation curves of several runs on one pair of plots, one colour per run (the leaderboard shows
which colour is which; a legend would sit on top of the curves)."""

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QWidget

from app.widgets.plot import plot_widget

PALETTE = ["#1a73e8", "#e8710a", "#188038", "#d93025", "#9334e6", "#12b5cb", "#f9ab00", "#5f6368"]


class OverlayCurves(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        background = self.palette().color(self.backgroundRole())
        foreground = self.palette().color(self.foregroundRole()).name()
        self.acc_plot = plot_widget(background=background)
        self.loss_plot = plot_widget(background=background)
        for plot, title, label in ((self.acc_plot, "Validation accuracy (higher is better)", "accuracy %"),
                                   (self.loss_plot, "Validation loss (lower is better)", "loss")):
            plot.setTitle(title, color=foreground)
            plot.setLabel("bottom", "epoch", color=foreground)
            plot.setLabel("left", label, color=foreground)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.setMinimumHeight(160)
        self.acc_plot.setYRange(0, 100)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.acc_plot)
        row.addWidget(self.loss_plot)
        self.clear()

    def clear(self) -> None:
        self.acc_plot.clear()
        self.loss_plot.clear()
        self.series: dict[str, tuple] = {}  # label -> (accuracy curve, loss curve, epochs)

    def add_epoch(self, label: str, epoch: int, val_accuracy: float, val_loss: float) -> None:
        if label not in self.series:
            pen = pg.mkPen(self.colour(label, len(self.series)), width=2)
            self.series[label] = (self.acc_plot.plot([], [], pen=pen, symbol="o", symbolSize=5),
                                  self.loss_plot.plot([], [], pen=pen, symbol="o", symbolSize=5), [])
        acc, loss, points = self.series[label]
        points.append((epoch, 100 * val_accuracy, val_loss))
        acc.setData([p[0] for p in points], [p[1] for p in points])
        loss.setData([p[0] for p in points], [p[2] for p in points])

    def colour(self, label: str, index: int | None = None) -> str:
        """The colour of ``label``'s curves (of the next new curve when it has none yet)."""
        labels = list(self.series)
        n = labels.index(label) if label in labels else len(labels) if index is None else index
        return PALETTE[n % len(PALETTE)]

    def epochs_drawn(self, label: str) -> int:
        return len(self.series[label][2]) if label in self.series else 0
