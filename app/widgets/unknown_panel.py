"""'I don't know': at each threshold of the unknown score, the share of images of known classes let through and of
images of none caught; a slider to move the threshold, and buttons to keep it with the model or go back."""

import html
import math

import numpy as np

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from app.widgets.curves import TRAIN_COLOUR, VAL_COLOUR

TIP = ("An image is called “unknown” when it looks unlike every class the model learnt: its unknown score is above "
       "the threshold. Lower it to catch more images of none of your classes; raise it to let more of your own "
       "through.")


class _Plot(pg.PlotWidget):
    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name. pyqtgraph asks for 600 x 480: the page would scroll
        return QSize(300, 140)


class UnknownPanel(QWidget):
    otherRequested = Signal()  # "Images of no class…": the page asks for a folder and scores it
    kept = Signal(str, str)  # the threshold was kept with the model (or could not be): what to tell, "ok"/"error"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        background = self.palette().color(self.backgroundRole())
        foreground = self.palette().color(self.foregroundRole()).name()
        self.plot = _Plot(background=background)
        self.plot.setMinimumHeight(90)
        self.plot.setLogMode(x=True)
        self.plot.setLabel("left", "share", color=foreground)  # of images; the x axis is the slider's threshold
        self.plot.setToolTip("Across: the unknown score threshold (as on the slider below). Up: the share of images")
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.enableAutoRange(axis="y", enable=False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.accepted_curve = self.plot.plot([], [], pen=pg.mkPen(TRAIN_COLOUR, width=2))
        self.rejected_curve = self.plot.plot([], [], pen=pg.mkPen(VAL_COLOUR, width=2))
        self.line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#999999", width=1, style=Qt.PenStyle.DashLine))
        self.plot.addItem(self.line)
        self.title = QLabel()  # only for a model whose curve cannot be drawn: why
        self.title.setWordWrap(True)
        self.title.hide()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip(TIP)
        self.slider.valueChanged.connect(self._moved)
        self.value = QLabel()
        self.value.setWordWrap(True)
        self.other_button = QPushButton("Images of no class…")
        self.other_button.setToolTip("A folder of images that belong to none of your classes (e.g. an empty tray, "
                                     "another kind of scan): used only to show how many the threshold catches, "
                                     "never to train")
        self.other_button.clicked.connect(self.otherRequested)
        self.keep_button = QPushButton("Keep this threshold")
        self.keep_button.setToolTip("Save it with the model: predictions, reports and exports use it from now on")
        self.keep_button.clicked.connect(self._keep)
        self.reset_button = QPushButton("Trained threshold")
        self.reset_button.setToolTip("Go back to the threshold set when the model was trained")
        self.reset_button.clicked.connect(self._reset)
        buttons = QHBoxLayout()
        buttons.addWidget(self.other_button)
        buttons.addStretch(1)
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.keep_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.slider)
        layout.addWidget(self.value)
        layout.addWidget(self.title)
        layout.addLayout(buttons)
        self.bundle = self.curve = None
        self.known_words, self.other_words = "", ""

    def show_model(self, bundle, evaluation: dict | None) -> bool:
        """Draw the model's curve (its known images' scores, and a folder of no class scored by this evaluation);
        False for a model that cannot say "I don't know" (the page then hides the panel)."""
        from core.evaluation.unknown_threshold import known_scores
        self.bundle, self.curve = bundle, None
        if bundle is None or bundle.net.unknown is None or "unknown" not in bundle.meta:
            return False
        try:
            self._known, self.known_words = known_scores(bundle, evaluation)
        except Exception as exc:  # an earlier model without the scores: say so instead of a curve
            self.title.setText(html.escape(str(exc)))
            self.title.show()
            for widget in (self.plot, self.slider, self.value, self.keep_button, self.reset_button):
                widget.hide()
            return True
        unknown = (evaluation or {}).get("unknown") or {}
        self._other, self.other_words = (unknown["other_scores"], f"the {unknown['images']} images in "
                                         f"{unknown['folder']}") if "other_scores" in unknown else ([], "")
        for widget in (self.plot, self.slider, self.value, self.keep_button, self.reset_button):
            widget.show()
        self.title.hide()
        self._draw(bundle.meta["unknown"]["threshold"])
        return True

    def set_other(self, scores: list[float], folder: str) -> None:
        """Images of none of the classes, scored: their caught share joins the curve."""
        if self.curve is None:
            return
        self._other, self.other_words = scores, f"the {len(scores)} images in {folder}"
        self._draw(self.threshold())

    def threshold(self) -> float:
        return self.curve.thresholds[self.slider.value()] if self.curve else float("nan")

    def _draw(self, threshold: float) -> None:
        from core.evaluation.unknown_threshold import threshold_curve
        described = self.bundle.meta["unknown"]
        self.curve = threshold_curve(self._known, self._other,  # the kept and trained thresholds are points of it
                                     extra=(threshold, described.get("trained_threshold", threshold)))
        grid = self.curve.thresholds
        x = np.maximum(grid, 1e-6)
        self.accepted_curve.setData(x, self.curve.accepted_known)
        self.rejected_curve.setData(x if self._other else [], self.curve.rejected_other)
        self.value.setToolTip(f"Drawn from {self.known_words}" + (f" and {self.other_words}" if self._other else
                              "; “Images of no class…” adds how many of those it catches") + ".\n" + TIP)
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(grid) - 1)
        self.slider.setValue(int(np.argmin(np.abs(np.asarray(grid) - threshold))))
        self.slider.blockSignals(False)
        self._moved(self.slider.value())

    def _moved(self, index: int) -> None:
        if not self.curve:
            return
        t = self.curve.thresholds[index]
        self.line.setValue(math.log10(max(t, 1e-6)))  # the axis is logarithmic: the line sits at log10
        accepted, caught = self.curve.at(t)
        trained = self.bundle.meta["unknown"].get("trained_threshold", self.bundle.meta["unknown"]["threshold"])
        kept = self.bundle.meta["unknown"]["threshold"]
        words = (f"Unknown above <b>{t:.3g}</b>{' (kept)' if t == kept else ''}: <b style='color:{TRAIN_COLOUR}'>"
                 f"lets through {accepted:.0%}</b> of {self.curve.known_images} images of your classes")
        if caught is not None:
            words += (f", <b style='color:{VAL_COLOUR}'>catches {caught:.0%}</b> of {self.curve.other_images} "
                      "images of no class")
        self.value.setText(words)
        self.keep_button.setEnabled(t != kept)
        self.reset_button.setEnabled(kept != trained or t != kept)

    def _keep(self) -> None:
        from core.evaluation.unknown_threshold import set_unknown_threshold
        t = self.threshold()
        try:
            set_unknown_threshold(self.bundle, t)
        except Exception as exc:  # the run folder cannot be written: the model keeps its threshold
            self.kept.emit(f"Could not keep the threshold: {exc}", "error")
            return
        self._moved(self.slider.value())
        self.kept.emit(f"Kept the “I don't know” threshold {t:.3g} with the model in {self.bundle.run_dir}: "
                       "predictions, reports and exports use it from now on.", "ok")

    def _reset(self) -> None:
        described = self.bundle.meta["unknown"]
        trained = described.get("trained_threshold", described["threshold"])
        if described["threshold"] != trained:
            from core.evaluation.unknown_threshold import set_unknown_threshold
            set_unknown_threshold(self.bundle, trained)
            self.kept.emit(f"Back to the trained “I don't know” threshold, {trained:.3g}.", "ok")
        self._draw(trained)
