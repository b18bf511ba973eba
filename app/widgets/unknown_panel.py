"""'I don't know': at each threshold of the unknown score, the share of images of known classes let through and of
images of none caught; a slider to move the threshold, buttons to keep it with the model or go back, and a folder
of images of no class: scored to draw its curve, or added to the data as a class of its own."""

import html
import math

import numpy as np

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QInputDialog, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from app import app_settings
from app.tasks import Task
from app.widgets.busy import BusyRow
from app.widgets.curves import TRAIN_COLOUR, VAL_COLOUR
from core.evaluation.result_words import score_words

TIP = ("An image is called “unknown” when it looks unlike every class the model learnt: its unknown score is above "
       "the threshold. Lower it to catch more images of none of your classes; raise it to let more of your own "
       "through. AUROC: how well the score tells images of no class from yours, whatever the threshold (1.0: "
       "perfectly; 0.5: no better than guessing).")


class _LogAxis(pg.AxisItem):
    """A logarithmic axis labelled at 1, 2 and 5 times a power of ten only: pyqtgraph labels every minor tick,
    and within one decade they overlap ("0.030.040.05…")."""

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        return [_round_label(10 ** v) for v in values]


def _round_label(x: float) -> str:
    if not math.isfinite(x) or x <= 0:
        return ""
    mantissa = x / 10 ** math.floor(math.log10(x) + 1e-9)
    return f"{x:g}" if any(abs(mantissa - m) < 1e-6 for m in (1, 2, 5)) else ""


class _Plot(pg.PlotWidget):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # no Tab stop, as app.widgets.plot's charts
        self.getPlotItem().hideButtons()  # nor their small "A" (auto-range) button

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name. pyqtgraph asks for 600 x 480: the page would scroll
        return QSize(300, 80)


class UnknownPanel(QWidget):
    kept = Signal(str, str)  # the threshold was kept with the model (or could not be): what to tell, "ok"/"error"
    extraClassReady = Signal(object, str)  # the dataset's scan with the folder of no class as a class; what was done

    def __init__(self, start_folder, scan, parent=None) -> None:
        """``start_folder(key)``: where a folder dialog opens; ``scan()``: the dataset scan the model was trained on."""
        super().__init__(parent)
        self._start_folder, self._scan = start_folder, scan
        self.task = Task(self)
        self.task.finished.connect(self._on_finished)
        self.task.failed.connect(lambda message: self.kept.emit(message, "error"))
        self.task.stopped.connect(self._on_stopped)
        self.busy_row = BusyRow(self.task)
        self.task.progress.connect(self.busy_row.report)
        background = self.palette().color(self.backgroundRole())
        foreground = self.palette().color(self.foregroundRole()).name()
        self.plot = _Plot(background=background, axisItems={"bottom": _LogAxis("bottom")})
        self.plot.setMinimumHeight(70)
        self.plot.setLogMode(x=True)
        self.plot.setLabel("left", "share", color=foreground)  # of images
        self.plot.setLabel("bottom", "unknown score threshold (as on the slider)", color=foreground)
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
        self.other_button.clicked.connect(self._score_other)
        self.marked_button = QPushButton()  # the images marked "None of these" in Label new images, where there are
        self.marked_button.setToolTip("The images you marked “None of these” while labelling new images: how many "
                                      "of them the threshold catches (they are never trained on)")
        self.marked_button.clicked.connect(self._score_marked)
        self.marked_button.hide()
        self.extra_button = QPushButton("Add as a class…")
        self.extra_button.setToolTip("Train again with these images as one more class (e.g. “none of these”), read "
                                     "where they are: neither folder is changed")
        self.extra_button.clicked.connect(self._add_as_class)
        self.extra_button.setEnabled(False)
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("Keep this threshold with the model: predictions, reports and exports use it "
                                    "from now on")
        self.keep_button.clicked.connect(self._keep)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Go back to the threshold set when the model was trained")
        self.reset_button.clicked.connect(self._reset)
        moving = QHBoxLayout()  # the threshold's row: the slider, then what to do with where it is
        moving.addWidget(self.slider, 1)
        moving.addWidget(self.reset_button)
        moving.addWidget(self.keep_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.other_button)
        buttons.addWidget(self.marked_button)
        buttons.addWidget(self.extra_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(moving)
        layout.addWidget(self.value)
        layout.addWidget(self.title)
        layout.addWidget(self.busy_row)
        layout.addLayout(buttons)
        self.bundle = self.curve = self.other_folder = None
        self._marked: list = []
        self.known_words, self.other_words = "", ""

    def show_model(self, bundle, evaluation) -> bool:  # evaluation: core.evaluation.predict.Evaluation or None
        """Draw the model's curve (its known images' scores, and a folder of no class scored by this evaluation);
        False for a model that cannot say "I don't know" (the page then hides the panel)."""
        from core.base.errors import TransferLabError
        from core.evaluation.unknown_threshold import known_scores
        self.bundle, self.curve = bundle, None
        if bundle is None or bundle.net.unknown is None or "unknown" not in bundle.meta:
            return False
        try:
            self._known, self.known_words = known_scores(bundle, evaluation)
        except TransferLabError as exc:  # an earlier model without the scores: say so instead of a curve
            self.title.setText(html.escape(str(exc)))
            self.title.show()
            for widget in (self.plot, self.slider, self.value, self.keep_button, self.reset_button):
                widget.hide()
            return True
        unknown = (evaluation.unknown if evaluation is not None else None) or {}
        self._other, self.other_words = (unknown["other_scores"], f"the {unknown['images']} images in "
                                         f"{unknown['folder']}") if "other_scores" in unknown else ([], "")
        self.other_folder = unknown.get("folder")
        self.extra_button.setEnabled(self.other_folder is not None)
        for widget in (self.plot, self.slider, self.value, self.keep_button, self.reset_button):
            widget.show()
        self.title.hide()
        self._offer_marked()
        self._draw(bundle.meta["unknown"]["threshold"])
        return True

    def _offer_marked(self) -> None:
        from core.data.label_sheet import none_of_these
        scan = self._scan()
        self._marked = none_of_these(scan.root) if scan is not None else []
        self.marked_button.setText(f"Your “none of these” images ({len(self._marked)})")
        self.marked_button.setVisible(bool(self._marked))

    def _score_marked(self) -> None:
        if self.bundle is None or self.task.is_running() or not self._marked:
            return
        bundle, marked = self.bundle, list(self._marked)

        def work(ctx):
            from core.evaluation.predict import score_folder
            return "scored", score_folder(bundle, marked, progress=ctx.progress, cancel=ctx.cancel), None

        self._start(work)

    def set_other(self, scores: list[float], folder: str | None) -> None:
        """Images of none of the classes, scored: their caught share joins the curve (``folder`` None: the images
        marked "None of these", which cannot be added as a class from here)."""
        if self.curve is None:
            return
        self._other, self.other_words = scores, (f"the {len(scores)} images in {folder}" if folder else
                                                 f"the {len(scores)} images you marked “none of these”")
        self.other_folder = folder
        self.extra_button.setEnabled(folder is not None)
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
        words = (f"Unknown above <b>{score_words(t)}</b>{' (kept)' if t == kept else ''}: "
                 f"<b style='color:{TRAIN_COLOUR}'>lets through {accepted:.0%}</b> {self._of_known()}")
        if caught is not None:
            words += (f", <b style='color:{VAL_COLOUR}'>catches {caught:.0%}</b> of {self.curve.other_images} of "
                      f"no class (AUROC {self.curve.auroc:.3f})")
        self.value.setText(words)
        self._fit_words()
        self.keep_button.setEnabled(t != kept)
        self.reset_button.setEnabled(kept != trained or t != kept)

    def _of_known(self) -> str:
        """Which images of known classes: "of your 195 labelled images" (known_scores' words up to their comma)."""
        images = self.known_words.split(",")[0]
        return f"of {images}" if images.startswith("the ") else f"of your {images}"

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_words()

    def _fit_words(self) -> None:
        """The sentence below the slider keeps the height of all its wrapped lines: the plot gives way, not it."""
        width = self.value.width() if self.value.width() > 50 else self.width()
        self.value.setMinimumHeight(self.value.heightForWidth(width) if width > 50 else 0)

    def _keep(self) -> None:
        t = self.threshold()
        if self._save(t):
            self._moved(self.slider.value())
            self.kept.emit(f"Kept the “I don't know” threshold {score_words(t)} with the model in "
                           f"{self.bundle.run_dir}: predictions, reports and exports use it from now on.", "ok")

    def _reset(self) -> None:
        described = self.bundle.meta["unknown"]
        trained = described.get("trained_threshold", described["threshold"])
        if described["threshold"] != trained:
            if not self._save(trained):
                return
            self.kept.emit(f"Back to the trained “I don't know” threshold, {score_words(trained)}.", "ok")
        self._draw(trained)

    def _save(self, threshold: float) -> bool:
        """Write ``threshold`` into the model's run folder; False (and said why) when that cannot be done."""
        from core.base.errors import TransferLabError
        from core.evaluation.unknown_threshold import set_unknown_threshold
        try:
            set_unknown_threshold(self.bundle, threshold)
        except (TransferLabError, OSError) as exc:  # e.g. a read-only run folder: the model keeps its threshold
            self.kept.emit(f"Could not keep the threshold: {exc}", "error")
            return False
        return True

    # a folder of images of no class (tests replace the dialogs) --------------------------------
    def choose_other_folder(self) -> str | None:
        return QFileDialog.getExistingDirectory(self, "A folder of images that belong to none of the classes",
                                                self._start_folder("results/last_unknown_folder")) or None

    def choose_class_name(self) -> str | None:
        from core.data.extra_class import EXTRA_CLASS_NAME
        name, ok = QInputDialog.getText(
            self, "Add as a class", f"Train again with the images in {self.other_folder} as one more class, named:",
            text=EXTRA_CLASS_NAME)
        return name.strip() if ok and name.strip() else None

    def _score_other(self) -> None:
        folder = self.choose_other_folder() if self.bundle is not None and not self.task.is_running() else None
        if not folder:
            return
        app_settings.set_value("results/last_unknown_folder", folder)
        bundle = self.bundle

        def work(ctx):
            from core.evaluation.predict import score_folder
            return "scored", score_folder(bundle, folder, progress=ctx.progress, cancel=ctx.cancel), folder

        self._start(work)

    def _add_as_class(self) -> None:
        scan, folder = self._scan(), self.other_folder
        name = self.choose_class_name() if scan is not None and folder and not self.task.is_running() else None
        if not name:
            return

        def work(ctx):
            from core.data.extra_class import with_extra_class
            return "class", with_extra_class(scan, folder, name, progress=ctx.progress, cancel=ctx.cancel), name

        self._start(work)

    def _start(self, work) -> None:
        for button in (self.other_button, self.extra_button, self.marked_button):
            button.setEnabled(False)
        self.busy_row.begin()
        self.task.start(work)

    def _on_finished(self, result) -> None:
        if result[0] == "scored":
            self.set_other(result[1], result[2])
            return
        scan, name = result[1], result[2]
        count = scan.class_counts()[name]
        self.extraClassReady.emit(scan, f"Added the {count} images in {self.other_folder} as the class “{name}” "
                                  "(read where they are; neither folder is changed). Press Start training to train "
                                  "with it.")

    def _on_stopped(self) -> None:
        self.busy_row.hide()
        self.other_button.setEnabled(True)
        self.marked_button.setEnabled(True)
        self.extra_button.setEnabled(self.other_folder is not None)

    def shutdown(self) -> None:
        self.task.cancel()
        self.task.wait(15000)
