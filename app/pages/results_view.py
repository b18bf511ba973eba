"""Step 6: how good is the model, on images it never trained on; why it errs; save, export, report."""

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QMenu, QPushButton,
                               QSizePolicy, QTabWidget, QTableWidget, QTableWidgetItem, QVBoxLayout)

from app import app_settings
from app.glossary import explain
from app.pages.base import WizardPage
from app.pages.results_jobs import BALANCED_TIP, COLUMN_TIPS, evaluate_job
from app.tasks import Task
from app.widgets.busy import BusyRow
from app.widgets.confusion import ConfusionMatrixWidget
from app.widgets.gallery import Gallery
from app.widgets.relabel_bar import RelabelBar
from app.widgets.roc import RocPanel
from app.widgets.unknown_panel import UnknownPanel
from core.evaluation.metrics import INTERVAL_BELOW, at_threshold, baseline_words
from core.evaluation.result_words import measured_on, stopped_words

TOP_LOSSES = 30


class ResultsPage(WizardPage):
    retrainRequested = Signal(str)  # the data changed (a class added): the window goes to Train and says this
    trainAgainRequested = Signal(str)  # labels corrected here: the window trains again at once, and says this
    title = "Results"
    subtitle = ("Measured on images the measured model did not learn from; the text below says which images, "
                "and where a number may be a little optimistic.")

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.busy_row = BusyRow(self.task)
        self.body.addWidget(self.busy_row)
        self.accuracy_label = QLabel("No results yet: train a model first.")
        self.accuracy_label.setWordWrap(True)
        self.body.addWidget(self.accuracy_label)
        self.calibration_label = QLabel()
        self.calibration_label.setWordWrap(True)
        self.calibration_label.setObjectName("subtitle")
        self.calibration_label.setToolTip(explain("Calibration (temperature)", "Expected calibration error (ECE)"))
        self.body.addWidget(self.calibration_label)

        self.per_class = QTableWidget(0, 5)
        self.per_class.setTabKeyNavigation(False)  # Tab moves on to the next control, not the next cell
        self.per_class.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Images"])
        for column, tip in enumerate(COLUMN_TIPS):
            self.per_class.horizontalHeaderItem(column).setToolTip(tip)
        self.per_class.verticalHeader().hide()
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.per_class.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # a long name
        # is shortened, not the numbers (a walkthrough's 13 photo classes cut "Images" to "I")
        self.per_class.setMinimumWidth(340)
        self.roc = RocPanel()
        self.roc.thresholdChanged.connect(self._threshold_changed)
        left = QVBoxLayout()
        self.unknown_panel = UnknownPanel(self.start_folder, lambda: self.state.scan)
        self.unknown_panel.kept.connect(self.banner.show_message)
        self.unknown_panel.extraClassReady.connect(self._extra_class_ready)
        self.left_tabs = QTabWidget()  # one view at a time: the page fits the window without scrolling
        self.left_tabs.addTab(self.per_class, "Per class")
        self.left_tabs.addTab(self.roc, "ROC curve")
        self.left_tabs.addTab(self.unknown_panel, "“I don't know”")
        for tab in (1, 2):  # shown once an evaluation has them (the ROC tab flashed up and vanished)
            self.left_tabs.setTabVisible(tab, False)
        self.left_tabs.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)  # not the plots' 480 px
        self.left_tabs.setMinimumHeight(230)
        left.addWidget(self.left_tabs, 1)
        self.confusion = ConfusionMatrixWidget()
        self.confusion.cellClicked.connect(self.show_cell)
        self.top_losses_button = QPushButton("Top losses")
        self.top_losses_button.setToolTip("The images the model got most wrong, or right with least confidence")
        self.top_losses_button.clicked.connect(self.show_top_losses)
        matrix_title = QLabel("<b>Confusion matrix</b> — rows: true class, columns: predicted; click a cell to see "
                              "its images")
        matrix_title.setWordWrap(True)
        right_title = QHBoxLayout()
        right_title.addWidget(matrix_title, 1)
        right_title.addWidget(self.top_losses_button)
        right = QVBoxLayout()
        right.addLayout(right_title)
        right.addWidget(self.confusion, 1)
        row = QHBoxLayout()
        row.addLayout(left, 2)
        row.addLayout(right, 3)
        self.body.addLayout(row, 3)
        self.gallery = Gallery()
        self.gallery.explainRequested.connect(self._explain)
        self.body.addWidget(self.gallery, 2)
        self.relabel_bar = RelabelBar(state, self.gallery)  # corrected labels: count, train again, before/after
        self.relabel_bar.trainAgainRequested.connect(self.trainAgainRequested)
        self.body.addWidget(self.relabel_bar)

        self.where_label = QLabel()
        self.where_label.setWordWrap(True)
        self.where_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.save_button = QPushButton("Save model…")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("ONNX or TorchScript, checked against the trained model before it is kept")
        menu = QMenu(self.export_button)
        menu.addAction("ONNX (.onnx)…", lambda: self._export("onnx"))
        menu.addAction("TorchScript (.pt)…", lambda: self._export("torchscript"))
        self.export_button.setMenu(menu)
        self.test_button = QPushButton("Test on another folder…")
        self.test_button.setToolTip("Measure the model on a labelled folder it has never seen (one subfolder per "
                                    "class), e.g. images from a later date or another site")
        self.test_button.clicked.connect(self._test_folder)
        self.report_button = QPushButton("Save report…")
        self.report_button.setToolTip("One HTML file with the data, strategy, curves, metrics and examples")
        bottom = QHBoxLayout()
        bottom.addWidget(self.where_label, 1)
        for button in self._buttons():
            button.setEnabled(False)
            bottom.addWidget(button)
        self.footer.addLayout(bottom)  # in view in a short window (a walkthrough found them cut until scrolled)
        self.layout().removeWidget(self.banner)  # "Report saved…" below the buttons: they stay where the mouse is
        self.footer.addWidget(self.banner)
        self.save_button.clicked.connect(self._save)
        self.report_button.clicked.connect(self._report)
        self.task.progress.connect(self.busy_row.report)
        self.task.finished.connect(self._on_finished)
        self.task.stopped.connect(self._on_stopped)
        self.explain_task = Task(self)
        self.explain_task.finished.connect(self._on_explained)
        self.explain_task.stopped.connect(self._explain_next)
        self.explain_task.failed.connect(lambda msg: self.gallery.preview_caption.setText(msg))
        self._evaluated_run: Path | None = None
        self._bundle = None
        self._predicted: list[int] = []  # per evaluated image, at the current threshold
        self._explain_pending: str | None = None

    # hooks ------------------------------------------------------------------------------------
    def on_enter(self) -> None:
        run_dir = self.state.run_dir
        if run_dir is None or self.state.scan is None or self.task.is_running():
            return
        if self.state.evaluation is not None and self._evaluated_run == run_dir:
            return
        if self._evaluated_run != run_dir:
            self._clear_shown()  # nothing of the run shown before (its path, its matrix) beside "Measuring…"
        self.state.evaluation, self._evaluated_run, scan = None, run_dir, self.state.scan
        self.accuracy_label.setText("Measuring the model on its validation images…")  # not "No results yet"
        self.calibration_label.clear()
        self._run_job(lambda ctx: evaluate_job(run_dir, scan, ctx))
        self.completeChanged.emit()

    def is_complete(self) -> bool:
        return self.state.evaluation is not None and not self.task.is_running()

    def _clear_shown(self) -> None:
        self.banner.hide()  # "Report saved to …" and the like belonged to the run shown before
        self.per_class.setRowCount(0)
        self.confusion.set_matrix([], [])
        self.where_label.clear()
        self.gallery.set_classes([])
        self.relabel_bar.hide()
        self._bundle, self._predicted = None, []
        for tab in (1, 2):
            self.left_tabs.setTabVisible(tab, False)

    def shutdown(self) -> None:
        self.unknown_panel.shutdown()
        self._explain_pending = None
        self.explain_task.cancel()
        self.explain_task.wait(15000)
        self.gallery.thumb_task.cancel()
        self.gallery.thumb_task.wait(15000)
        super().shutdown()

    # what the user may call (tests replace the dialogs) ----------------------------------------
    def choose_save_folder(self) -> str | None:
        start = self.start_folder("results/last_save_folder")
        return QFileDialog.getExistingDirectory(self, "Save the model into…", start) or None

    def choose_export_file(self, fmt: str) -> str | None:
        suffix = ".onnx" if fmt == "onnx" else ".pt"
        start = str(Path(self.start_folder("results/last_save_folder")) /
                    f"{self.state.run_dir.name}{suffix}")
        kind = "ONNX model" if fmt == "onnx" else "TorchScript model"
        path, _ = QFileDialog.getSaveFileName(self, f"Export as {kind}", start, f"{kind} (*{suffix})")
        return path or None

    def choose_test_folder(self) -> str | None:
        start = self.start_folder("results/last_test_folder")
        return QFileDialog.getExistingDirectory(self, "A labelled folder to test on (one subfolder per class)",
                                                start) or None

    def choose_report_file(self) -> str | None:
        start = str(Path(self.start_folder("results/last_save_folder")) /
                    f"{self.state.run_dir.name} report.html")
        path, _ = QFileDialog.getSaveFileName(self, "Save the report", start, "HTML (*.html)")
        return path or None

    def show_cell(self, true: int, predicted: int) -> None:
        report = self.state.evaluation
        if report is None:
            return
        classes = report.classes
        items = [dict(i, predicted=p) for i, p in zip(report.images, self._predicted)
                 if i["true"] == true and p == predicted]
        items.sort(key=lambda i: -i["confidence"])
        what = "correctly" if true == predicted else f"as <b>{classes[predicted]}</b>"
        self.gallery.show_items(f"<b>{classes[true]}</b> images predicted {what} ({len(items)}), most confident "
                                "first", items)

    def show_top_losses(self) -> None:
        report = self.state.evaluation
        if report is None:
            return
        scored = [dict(i, predicted=p) for i, p in zip(report.images, self._predicted)]
        wrong = sorted((i for i in scored if i["predicted"] != i["true"]), key=lambda i: -i["loss"])
        unsure = sorted((i for i in scored if i["predicted"] == i["true"]), key=lambda i: -i["loss"])
        items = (wrong + unsure)[:TOP_LOSSES]
        shown_wrong = min(len(wrong), TOP_LOSSES)
        right = len(items) - shown_wrong
        if shown_wrong:
            title = (f"the {shown_wrong} image{'s' * (shown_wrong != 1)} the model got wrong, worst first"
                     + (f", then the {right} right answers it was least sure of" if right else ""))
        else:  # not "the 0 images the model got wrong"
            title = f"the model got every validation image right; these are the {right} it was least sure of"
        self.gallery.show_items("Top losses: " + title, items)

    # internals --------------------------------------------------------------------------------
    def _buttons(self) -> tuple:
        return self.test_button, self.save_button, self.export_button, self.report_button

    def _set_buttons(self, enabled: bool) -> None:
        for button in self._buttons():
            button.setEnabled(enabled and self.state.run_dir is not None)
        self.report_button.setEnabled(enabled and self.state.evaluation is not None)

    def _on_stopped(self) -> None:
        self.busy_row.hide()
        self._set_buttons(True)
        self.completeChanged.emit()

    def _on_finished(self, result) -> None:
        kind = result[0]
        if kind == "saved":
            self.banner.show_message(f"Saved the model to {result[1]}. TransferLab or `transferlab predict` can "
                                     "load it from there.", "ok")
        elif kind == "exported":
            r = result[1]
            self.banner.show_message(f"Exported to {r.path} and checked on {r.images} (largest difference "
                                     f"{r.max_abs_difference:.1e}); class names and preprocessing are in "
                                     f"{Path(r.sidecar).name}.", "ok")
        elif kind == "report":
            self.banner.show_message(f"Report saved to {result[1]}.", "ok")

        else:
            self._show_evaluation(*result[1:])

    def _show_evaluation(self, run_dir: Path, report, bundle) -> None:  # core.evaluation.predict.Evaluation
        if run_dir != self.state.run_dir:
            return
        self.state.evaluation, self._bundle = report, bundle
        scored = measured_on(report, bundle.meta.get("auto") if bundle is not None else None)
        interval = ""
        if report.num_images < INTERVAL_BELOW:
            lo, hi = report.accuracy_interval
            interval = (f" <span title='Wilson 95% interval: with this few images, the accuracy on new images is "
                        f"likely anywhere in this range'>(95% interval {100 * lo:.0f}–{hi:.0%})</span>")
        baseline = baseline_words(report)
        self.accuracy_label.setText(
            f"<span style='font-size:20pt; font-weight:600'>{report.accuracy:.1%}</span> accuracy{interval} · "
            f"<span title='{html.escape(BALANCED_TIP)}'>balanced accuracy</span> {report.balanced_accuracy:.1%} · "
            f"measured on "
            f"{html.escape(scored)}."
            + (f" For comparison, {html.escape(baseline)}." if baseline else "")
            + html.escape(stopped_words(bundle.meta) if bundle is not None else ""))
        calibration = report.calibration
        from core.evaluation.calibration import calibration_sentence  # torch is loaded by now (not at startup)
        self.calibration_label.setText(calibration_sentence(calibration) if "fitted" in calibration else
                                       "This model was saved by an earlier TransferLab, without calibrated "
                                       "probabilities.")  # "I don't know" has its own panel, with its threshold
        self.left_tabs.setTabVisible(2, self.unknown_panel.show_model(bundle, report))
        self._predicted = [i["predicted"] for i in report.images]
        self._fill_metrics(report)
        root = Path(self.state.scan.root) if self.state.scan is not None else None
        ours = root is not None and all(Path(i["path"]).is_relative_to(root) for i in report.images)
        self.gallery.set_classes(report.classes, can_relabel=ours)  # a test folder's labels are not ours to correct
        self.state.forget_foreign_relabel()
        if ours:
            self.relabel_bar.after_evaluation(run_dir, report.accuracy)
        if report.roc is not None:
            self.roc.set_roc(report.roc)
        self.left_tabs.setTabVisible(1, report.roc is not None)
        self.where_label.setText(f"The model is kept in {run_dir}. Save a copy, export it or save a report:")

    def _fill_metrics(self, report) -> None:  # core.evaluation.metrics.Scores
        classes = report.classes
        self.per_class.setRowCount(len(classes))
        for r, name in enumerate(classes):
            m = report.per_class[name]
            values = [name, f"{m['precision']:.2f}", f"{m['recall']:.2f}", f"{m['f1']:.2f}", str(m["support"])]
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                else:
                    item.setToolTip(name)  # whole, where the column shortens it
                self.per_class.setItem(r, c, item)
        self.confusion.set_matrix(report.confusion_matrix, classes)

    def _threshold_changed(self, threshold: float) -> None:
        report = self.state.evaluation
        if report is None or report.roc is None:
            return
        truth = [i["true"] for i in report.images]
        scores = [i["probabilities"][1] for i in report.images]
        moved = at_threshold(truth, scores, threshold, report.classes)
        self._predicted = [1 if s >= threshold else 0 for s in scores]
        self._fill_metrics(moved)

    def _explain(self, path: str) -> None:
        self._explain_pending = path
        self._explain_next()

    def _explain_next(self) -> None:
        """One explanation at a time; the latest click wins."""
        if self._explain_pending is None or self.explain_task.is_running() or self._bundle is None:
            return
        path, bundle, self._explain_pending = self._explain_pending, self._bundle, None

        def work(ctx):
            from core.evaluation.explain import explain
            e = explain(bundle.net, bundle.preprocessing, Path(path), temperature=bundle.temperature)
            return path, e.context if e.context is not None else e.image, e.overlay_in_context(), e.method

        self.explain_task.start(work)

    def _on_explained(self, result) -> None:
        self.gallery.set_explanation(*result)

    def _run_job(self, job) -> None:
        if self.task.is_running():
            return
        self._set_buttons(False)
        self.busy_row.begin()
        self.task.start(job)

    def _test_folder(self) -> None:
        run_dir = self.state.run_dir
        folder = self.choose_test_folder() if run_dir else None
        if not folder:
            return
        app_settings.set_value("results/last_test_folder", folder)
        self.banner.hide()
        self._run_job(lambda ctx: evaluate_job(run_dir, None, ctx, folder))

    def _extra_class_ready(self, scan, words: str) -> None:
        """The dataset with a class of images of no class: the run is out of date, and Train trains with it."""
        self.state.scan = scan
        self.retrainRequested.emit(words)

    def _save(self) -> None:
        run_dir = self.state.run_dir
        folder = self.choose_save_folder() if run_dir else None
        if not folder:
            return
        app_settings.set_value("results/last_save_folder", folder)
        dest = Path(folder) / run_dir.name

        def work(ctx):
            from core.models.bundle import export_bundle
            return "saved", export_bundle(run_dir, dest)

        self._run_job(work)

    def _export(self, fmt: str) -> None:
        path = self.choose_export_file(fmt) if self._bundle is not None else None
        if not path:
            return
        app_settings.set_value("results/last_save_folder", str(Path(path).parent))
        bundle = self._bundle

        def work(ctx):
            from core.evaluation.export import export_model
            return "exported", export_model(bundle, Path(path), fmt, progress=ctx.progress)

        self._run_job(work)

    def _report(self) -> None:
        path = self.choose_report_file() if self._bundle is not None else None
        if not path:
            return
        app_settings.set_value("results/last_save_folder", str(Path(path).parent))
        bundle, evaluation = self._bundle, self.state.evaluation

        def work(ctx):
            from core.evaluation.report import build_report
            return "report", build_report(bundle, evaluation, Path(path), progress=ctx.progress)

        self._run_job(work)
