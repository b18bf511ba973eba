"""Live training curves (pyqtgraph): loss and accuracy, per batch (smoothed) and per epoch."""

import math

import pyqtgraph as pg
from PySide6.QtCore import QSize, QTimer
from PySide6.QtWidgets import QHBoxLayout, QWidget

from app.glossary import explain
from app.widgets.plot import plot_widget

TRAIN_COLOUR = "#1a73e8"
# After an epoch both plots change; drawing them in the same event-loop pass can stall the window
# for ~100 ms on a slow CPU while training competes for the GIL, so the accuracy plot follows later.
SECOND_PLOT_DELAY_MS = 80
VAL_COLOUR = "#e8710a"


class PlainAxis(pg.AxisItem):
    """Tick labels as plain decimals ("0.00007", never "7e-05"), with as many places as the tick spacing needs."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        step = abs(spacing * scale)
        places = next((p for p in range(13) if abs(round(step, p) - step) <= step * 1e-6), 12) if step else 0
        return [f"{v * scale:.{places}f}" for v in values]


class EpochAxis(pg.AxisItem):
    """Whole epochs only (a walkthrough read "0.6 … 1.4" under a run's first epoch)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph's names
        levels = [(spacing, [v for v in values if abs(v - round(v)) < 1e-9])
                  for spacing, values in super().tickValues(minVal, maxVal, size) if spacing >= 1]
        if not any(values for _, values in levels):
            levels = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return levels

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        return [f"{v * scale:.0f}" for v in values]


class TrainingCurves(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        background = self.palette().color(self.backgroundRole())
        foreground = self.palette().color(self.foregroundRole())
        self.loss_plot = plot_widget(background=background, axisItems={"left": PlainAxis("left"),
                                                                          "bottom": EpochAxis("bottom")})
        self.acc_plot = plot_widget(background=background, axisItems={"left": PlainAxis("left"),
                                                                         "bottom": EpochAxis("bottom")})
        for plot, title, label in ((self.loss_plot, "Loss (lower is better)", "loss"),
                                   (self.acc_plot, "Accuracy (higher is better)", "accuracy %")):
            plot.setTitle(title, color=foreground.name())
            plot.setLabel("bottom", "epoch", color=foreground.name())
            plot.setLabel("left", label, color=foreground.name())
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.getAxis("left").enableAutoSIPrefix(False)
            # loss falls and accuracy rises over training: their legends sit where the curves seldom go
            plot.addLegend(offset=(-10, 10) if plot is self.loss_plot else (-10, -10),
                           labelTextColor=foreground.name())
            plot.setMinimumHeight(180)
            plot.setLimits(xMin=0)  # no epoch "-1" beside a one-epoch run
        self.acc_plot.setYRange(0, 100)
        self.loss_plot.setToolTip(explain("Loss", "Epoch", "Validation images"))
        self.acc_plot.setToolTip(explain("Accuracy", "Epoch", "Validation images"))
        self.batch_loss = self.loss_plot.plot([], [], pen=pg.mkPen(TRAIN_COLOUR, width=1, alpha=0.6),
                                              name="train (per batch, smoothed)")
        self.train_loss = self.loss_plot.plot([], [], pen=pg.mkPen(TRAIN_COLOUR, width=2), symbol="o",
                                              symbolSize=6, symbolBrush=TRAIN_COLOUR, name="train (epoch)")
        self.val_loss = self.loss_plot.plot([], [], pen=pg.mkPen(VAL_COLOUR, width=2), symbol="s", symbolSize=6,
                                            symbolBrush=VAL_COLOUR, name="validation")
        self.train_acc = self.acc_plot.plot([], [], pen=pg.mkPen(TRAIN_COLOUR, width=2), symbol="o", symbolSize=6,
                                            symbolBrush=TRAIN_COLOUR, name="train")
        self.val_acc = self.acc_plot.plot([], [], pen=pg.mkPen(VAL_COLOUR, width=2), symbol="s", symbolSize=6,
                                          symbolBrush=VAL_COLOUR, name="validation")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.loss_plot)
        row.addWidget(self.acc_plot)
        self._acc_timer = QTimer(self)
        self._acc_timer.setSingleShot(True)
        self._acc_timer.setInterval(SECOND_PLOT_DELAY_MS)
        self._acc_timer.timeout.connect(self._draw_accuracy)
        self.reset()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        # pyqtgraph asks for ~500 px; the page's scroll area sums the hints, so that pushed the axes and the log
        # below the window's edge. Small enough that a banner does not make the page scroll either (the scroll bar
        # moved Start and Cancel). Any height left over still goes to the curves (their stretch).
        return QSize(super().sizeHint().width(), 240)

    def reset(self) -> None:
        self._batch = ([], [])
        self._epochs: list[tuple[int, float, float, float, float]] = []
        self._acc_timer.stop()
        for curve in (self.batch_loss, self.train_loss, self.val_loss, self.train_acc, self.val_acc):
            curve.setData([], [])
        # no axis range left over from the run shown before: empty, the plot keeps its last range unless told
        self.loss_plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.loss_plot.enableAutoRange()
        self.acc_plot.setXRange(0, 1, padding=0)  # its epoch ticks stayed from the run before (a walkthrough)
        self.acc_plot.enableAutoRange(axis="x")
        self.acc_plot.setYRange(0, 100)

    def add_batch(self, position: float, smoothed_loss: float) -> None:
        """``position`` in epochs (e.g. 1.5 = half-way through epoch 2)."""
        self._batch[0].append(position)
        self._batch[1].append(smoothed_loss)
        self.batch_loss.setData(*self._batch)

    def add_epoch(self, epoch: int, train_loss: float, val_loss: float, train_acc: float, val_acc: float) -> None:
        self._epochs.append((epoch, train_loss, val_loss, 100 * train_acc, 100 * val_acc))
        xs = [e[0] for e in self._epochs]
        self.train_loss.setData(xs, [e[1] for e in self._epochs])
        self.val_loss.setData(xs, [e[2] for e in self._epochs])
        self._acc_timer.start()

    def _draw_accuracy(self) -> None:
        xs = [e[0] for e in self._epochs]
        self.train_acc.setData(xs, [e[3] for e in self._epochs])
        self.val_acc.setData(xs, [e[4] for e in self._epochs])

    def point_counts(self) -> dict[str, int]:
        return {"batch_loss": len(self._batch[0]), "epochs": len(self._epochs)}

    def drawn_counts(self) -> dict[str, int]:
        """Points actually on the plots (the accuracy plot follows the loss plot by a moment)."""
        def count(curve) -> int:
            xs = curve.getData()[0]
            return 0 if xs is None else len(xs)
        return {"train_loss": count(self.train_loss), "val_accuracy": count(self.val_acc)}
