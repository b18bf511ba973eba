"""ROC curve of a two-class model with a movable decision threshold."""

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from app.widgets.curves import TRAIN_COLOUR, VAL_COLOUR
from app.widgets.plot import plot_widget


class RocPanel(QWidget):
    thresholdChanged = Signal(float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        background = self.palette().color(self.backgroundRole())
        foreground = self.palette().color(self.foregroundRole()).name()
        self.plot = plot_widget(background=background)
        self.plot.setMinimumHeight(160)
        self.plot.setLabel("bottom", "false positive rate", color=foreground)
        self.plot.setLabel("left", "true positive rate", color=foreground)
        self.plot.setXRange(0, 1)
        self.plot.setYRange(0, 1)
        self.plot.plot([0, 1], [0, 1], pen=pg.mkPen("#999999", width=1, style=Qt.PenStyle.DashLine))
        self.curve = self.plot.plot([], [], pen=pg.mkPen(TRAIN_COLOUR, width=2))
        self.marker = self.plot.plot([], [], pen=None, symbol="o", symbolSize=9, symbolBrush=VAL_COLOUR)
        self.title = QLabel()
        self.title.setWordWrap(True)  # a long class name must not widen the window
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, 99)
        self.slider.setValue(50)
        self.slider.setToolTip("Move to trade missed positives against false alarms")
        self.value = QLabel()
        self.value.setWordWrap(True)
        self.slider.valueChanged.connect(self._moved)
        row = QHBoxLayout()
        row.addWidget(QLabel("Threshold:"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.value)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.plot, 1)
        layout.addLayout(row)
        self.roc: dict | None = None

    def set_roc(self, roc: dict) -> None:
        self.roc = roc
        self.title.setText(f"<b>ROC curve</b> — '{roc['positive']}' is positive · AUC {roc['auc']:.3f} "
                           "(1.0 = perfect ranking, 0.5 = no better than guessing)")
        self.curve.setData(roc["fpr"], roc["tpr"])
        self.slider.blockSignals(True)
        self.slider.setValue(50)
        self.slider.blockSignals(False)
        self._moved(50)

    def threshold(self) -> float:
        return self.slider.value() / 100

    def _moved(self, value: int) -> None:
        t = value / 100
        positive = self.roc["positive"] if self.roc else "positive"
        self.value.setText(f"'{positive}' when its probability ≥ {t:.2f}")
        if self.roc:
            # the operating point: the last curve point whose threshold is still >= t
            points = [(f, p) for f, p, th in zip(self.roc["fpr"], self.roc["tpr"], self.roc["thresholds"]) if th >= t]
            if points:
                self.marker.setData([points[-1][0]], [points[-1][1]])
        self.thresholdChanged.emit(t)
