"""Step 6: how good is the model, on images it never trained on; save it."""

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from app import app_settings
from app.pages.base import WizardPage
from app.widgets.confusion import ConfusionMatrixWidget


class ResultsPage(WizardPage):
    title = "Results"
    subtitle = "Measured on images held out from training, so these numbers are honest."

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.progress = QProgressBar()
        self.progress.hide()
        self.body.addWidget(self.progress)
        self.accuracy_label = QLabel("No results yet: train a model first.")
        self.accuracy_label.setWordWrap(True)
        self.body.addWidget(self.accuracy_label)
        row = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(QLabel("<b>Per class</b>"))
        self.per_class = QTableWidget(0, 5)
        self.per_class.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Images"])
        self.per_class.verticalHeader().hide()
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.per_class.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.per_class.setToolTip("Precision: of the images predicted as this class, the share that really are.\n"
                                  "Recall: of the images of this class, the share the model found.\n"
                                  "F1: the balance of the two.")
        left.addWidget(self.per_class)
        right = QVBoxLayout()
        right.addWidget(QLabel("<b>Confusion matrix</b> — rows: true class, columns: predicted"))
        self.confusion = ConfusionMatrixWidget()
        right.addWidget(self.confusion)
        row.addLayout(left, 1)
        row.addLayout(right, 1)
        self.body.addLayout(row, 1)
        self.where_label = QLabel()
        self.where_label.setWordWrap(True)
        self.where_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.save_button = QPushButton("Save model…")
        self.save_button.setEnabled(False)
        bottom = QHBoxLayout()
        bottom.addWidget(self.where_label, 1)
        bottom.addWidget(self.save_button)
        self.body.addLayout(bottom)
        self.save_button.clicked.connect(self._save)
        self.task.progress.connect(self._on_progress)
        self.task.finished.connect(self._on_finished)
        self.task.stopped.connect(self._on_stopped)
        self._evaluated_run: Path | None = None

    def on_enter(self) -> None:
        run_dir = self.state.run_dir
        if run_dir is None or self.state.scan is None:
            return
        if self.state.evaluation is not None and self._evaluated_run == run_dir:
            return
        self.state.evaluation = None
        self._evaluated_run = run_dir
        scan = self.state.scan
        self.progress.setRange(0, 0)
        self.progress.show()
        self.save_button.setEnabled(False)

        def work(ctx):
            from core.bundle import load_bundle
            from core.predict import evaluate
            bundle = load_bundle(run_dir)
            report = evaluate(bundle, scan, device="auto", cancel=ctx.cancel,
                              progress=lambda d, t: ctx.progress(d, t, "Scoring held-out images"))
            return ("evaluation", run_dir, report)

        self.task.start(work)
        self.completeChanged.emit()

    def is_complete(self) -> bool:
        return self.state.evaluation is not None and not self.task.is_running()

    def choose_save_folder(self) -> str | None:
        start = app_settings.get_str("results/last_save_folder", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Save the model into…", start)
        return folder or None

    # internals --------------------------------------------------------------------------------
    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{message}  %v / %m")

    def _on_stopped(self) -> None:
        self.progress.hide()
        self.save_button.setEnabled(self.state.run_dir is not None)
        self.completeChanged.emit()

    def _on_finished(self, result) -> None:
        kind = result[0]
        if kind == "saved":
            self.banner.show_message(f"Saved the model to {result[1]}. TransferLab or `transferlab predict` can "
                                     "load it from there.", "ok")
            return
        _, run_dir, report = result
        if run_dir != self.state.run_dir:
            return
        self.state.evaluation = report
        which = report["split"]
        images = report["num_images"]
        scored = (f"{images} validation images held out during training" if which.startswith("val")
                  else f"{images} test images" if which == "test" else f"{images} images")
        self.accuracy_label.setText(
            f"<span style='font-size:20pt; font-weight:600'>{report['accuracy']:.1%}</span> accuracy · "
            f"balanced accuracy {report['balanced_accuracy']:.1%} · measured on {scored}.")
        classes = report["classes"]
        self.per_class.setRowCount(len(classes))
        for r, name in enumerate(classes):
            m = report["per_class"][name]
            values = [name, f"{m['precision']:.2f}", f"{m['recall']:.2f}", f"{m['f1']:.2f}", str(m["support"])]
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.per_class.setItem(r, c, item)
        self.confusion.set_matrix(report["confusion_matrix"], classes)
        self.where_label.setText(f"The model is kept in {run_dir}. Save a copy where you want it:")

    def _save(self) -> None:
        run_dir = self.state.run_dir
        folder = self.choose_save_folder() if run_dir else None
        if not folder:
            return
        app_settings.set_value("results/last_save_folder", folder)
        dest = Path(folder) / run_dir.name
        self.save_button.setEnabled(False)
        def work(ctx):
            from core.bundle import export_bundle
            return "saved", export_bundle(run_dir, dest)

        self.task.start(work)
