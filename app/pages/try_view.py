"""Step 7: drop new images (or a folder) and see what the model says about each."""

import html
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

from app import app_settings
from app.glossary import explain
from app.pages.base import WizardPage
from app.widgets.busy import BusyRow
from app.widgets.images import pixmap_from_array
from core.data.images import IMAGE_EXTENSIONS
from core.data.thumbnails import thumbnail

THUMB = 112
MAX_EXPLAINED = 50


def _picture(bundle, result: dict, heatmap: bool):
    """The thumbnail shown for a prediction: the picture, or what the model looked at in it."""
    if heatmap and result.get("label") is not None:
        from core.base.errors import ImageLoadError
        from core.evaluation.explain import explain
        try:
            e = explain(bundle.net, bundle.preprocessing, Path(result["path"]), temperature=bundle.temperature)
        except ImageLoadError:
            return None
        from PIL import Image
        picture = Image.fromarray(e.overlay_in_context())
        picture.thumbnail((THUMB, THUMB))
        import numpy as np
        return np.asarray(picture)
    return thumbnail(Path(result["path"]), THUMB)


def model_words(run_dir) -> str:
    """One short line naming the model Try it uses: its run folder, when it was trained, its validation accuracy
    and, for a run stopped early, how (read from the run's two small JSON files; no torch)."""
    from core.base.errors import TransferLabError
    from core.evaluation.result_words import how_it_stopped
    from core.training import runs
    run_dir = Path(run_dir)
    try:
        when = runs.when_words(str(runs.read_record(run_dir).get("updated") or ""))
    except TransferLabError:
        when = ""
    meta = runs.model_description(run_dir)
    metrics, stopped = meta.get("metrics"), meta.get("stopped")
    accuracy = metrics.get("val_accuracy") if isinstance(metrics, dict) else None
    said = [f"trained {when}" if when else "",
            f"validation accuracy {accuracy:.1%}" if isinstance(accuracy, (int, float)) else "",
            how_it_stopped(stopped) if isinstance(stopped, dict) else ""]  # as the Train page's bar says it
    return f"Model: <b>{html.escape(run_dir.name)}</b>" + "".join(f" · {s}" for s in said if s)


class ResultRow(QWidget):
    """One image: thumbnail, predicted class with probability, the top three as bars."""

    def __init__(self, result: dict, thumb, limit: float | None = None) -> None:
        super().__init__()
        self.thumb = thumb  # what the picture shows: the image, or its heatmap
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 6, 6, 6)
        picture = QLabel()
        picture.setFixedSize(THUMB, THUMB)
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if thumb is not None:
            picture.setPixmap(pixmap_from_array(thumb))
        row.addWidget(picture)
        text = QVBoxLayout()
        name = QLabel(Path(result["path"]).name)
        name.setToolTip(result["path"])
        text.addWidget(name)
        if result.get("label") is None:
            self.label = None
            text.addWidget(QLabel(f"<span style='color:#d93025'>Cannot read this file: {result.get('error')}</span>"))
        else:
            self.label = result["label"]
            probs = sorted(result["probabilities"].items(), key=lambda kv: -kv[1])
            if result.get("is_unknown"):  # "I don't know" (core.models.unknown_score); its nearest class below
                from core.evaluation.result_words import score_words
                from core.models.unknown_score import UNKNOWN_LABEL  # torch is loaded: predictions ran
                self.label = UNKNOWN_LABEL
                above = f", above the limit of {score_words(limit)}" if limit is not None else ""
                unknown = QLabel(f"<span style='font-size:14pt; font-weight:600'>unknown</span> (looks unlike your "
                                 f"training images: unknown score {score_words(result['unknown_score'])}{above}). "
                                 f"Nearest class: {html.escape(probs[0][0])} ({probs[0][1]:.1%}), which the model "
                                 "would answer without “I don't know”.")
                unknown.setToolTip("Farther from every class than almost all of your training images are. The bars "
                                   "show the classes it resembles most all the same.")
                unknown.setWordWrap(True)
                text.addWidget(unknown)
            else:
                text.addWidget(QLabel(f"<span style='font-size:14pt; font-weight:600'>{self.label}</span>"
                                      f"  {probs[0][1]:.1%}"))
            for cls, p in probs[:3]:
                bar = QProgressBar()
                bar.setRange(0, 1000)
                bar.setValue(int(round(p * 1000)))
                bar.setFormat(f"{cls}: {p:.1%}")
                bar.setMaximumHeight(18)
                text.addWidget(bar)
        text.addStretch(1)
        row.addLayout(text, 1)


class TryPage(WizardPage):
    trainAgainRequested = Signal(str)  # new labels: the scan with them is in the state; train with them now
    title = "Try it"
    subtitle = "Drop images or a folder here (or choose them) to see what your model predicts for each."

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.setAcceptDrops(True)
        self.files_button = QPushButton("Choose images…")
        self.folder_button = QPushButton("Choose folder…")
        self.csv_button = QPushButton("Folder to CSV…")
        self.csv_button.setToolTip("Every image in a folder and its subfolders: one row each with the predicted "
                                   "class, its confidence and every class's probability")
        self.clear_button = QPushButton("Clear")
        self.label_button = QPushButton("Label new images…")
        self.label_button.setToolTip("A folder of unlabelled images: label the ones that would help the model most "
                                     "first, then train again with them")
        self.label_button.clicked.connect(self._label_new)
        self.heat_check = QCheckBox("Show what the model looks at")
        self.heat_check.setToolTip(explain("Grad-CAM (heatmap)") + f"<p>Drawn on the first {MAX_EXPLAINED} pictures "
                                   "of a batch.</p>")
        self.heat_check.setChecked(app_settings.get_bool(app_settings.HEATMAPS, True))  # as on Results
        self.heat_check.toggled.connect(self._heat_toggled)
        self.heat_check.toggled.connect(lambda on: app_settings.set_value(app_settings.HEATMAPS, on))
        self._last_batch: tuple[list[str], int, bool] = ([], 0, False)  # paths, rows shown, with heatmaps
        self.hint = QLabel()
        self.model_label = QLabel()  # which model answers here: its run folder, when trained, how accurate
        self.model_label.setTextFormat(Qt.TextFormat.RichText)
        self.body.addWidget(self.model_label)
        row = QHBoxLayout()
        row.addWidget(self.files_button)
        row.addWidget(self.folder_button)
        row.addWidget(self.csv_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        self.body.addLayout(row)
        second = QHBoxLayout()
        second.addWidget(self.heat_check)
        second.addWidget(self.hint, 1)
        second.addWidget(self.label_button)  # here, not in the row above: that widened the window (774 -> 798 px)
        self.body.addLayout(second)
        self.busy_row = BusyRow(self.task)
        self.progress, self.cancel_button = self.busy_row.progress, self.busy_row.cancel_button
        self.body.addWidget(self.busy_row)
        self.results = QListWidget()
        self.results.setFrameShape(QFrame.Shape.StyledPanel)
        self.results.setSpacing(2)
        self.body.addWidget(self.results, 1)
        self.files_button.clicked.connect(self._choose_files)
        self.folder_button.clicked.connect(self._choose_folder)
        self.csv_button.clicked.connect(self._folder_to_csv)
        self.task.cancelled.connect(lambda: self.banner.show_message("Stopped: nothing was written.", "info"))
        self.clear_button.clicked.connect(self.results.clear)
        self.clear_button.clicked.connect(lambda: setattr(self, "_shown_run", None))
        self.task.progress.connect(self._on_progress)
        self.task.finished.connect(self._on_finished)
        self.task.stopped.connect(self._on_stopped)
        self._bundle = None
        self._shown_run = None  # the model whose results the list shows

    def on_enter(self) -> None:
        with QSignalBlocker(self.heat_check):  # ticked or not as last chosen here or on Results (nothing redrawn)
            self.heat_check.setChecked(app_settings.get_bool(app_settings.HEATMAPS, True))
        ready = self.state.run_dir is not None
        now = Path(self.state.run_dir).resolve() if self.state.run_dir is not None else None
        if self._shown_run is not None and Path(self._shown_run).resolve() != now:  # another model now
            self.results.clear()
            self._last_batch = ([], 0, False)
            self.banner.show_message(f"The pictures tried before belonged to the model in {self._shown_run}; "
                                     "they are cleared, so every result here is from the model now chosen.", "info")
            self._shown_run = None
        self.hint.setText("" if ready else "Train a model first (step 5).")
        self.model_label.setText(model_words(self.state.run_dir) if ready else "")
        self.model_label.setToolTip(str(self.state.run_dir) if ready else "")
        self.model_label.setVisible(ready)
        for button in (self.files_button, self.folder_button, self.csv_button, self.label_button):
            button.setEnabled(ready and not self.task.is_running())

    # public -----------------------------------------------------------------------------------
    def predict_paths(self, paths: list[str]) -> None:
        run_dir = self.state.run_dir
        if run_dir is None or not paths or self.task.is_running():
            return
        cached = self._busy_bundle(run_dir)
        explain_them = self.heat_check.isChecked()
        self._last_batch = (list(paths), 0, explain_them)

        def work(ctx):
            from core.evaluation.predict import predict
            from core.models.bundle import load_bundle
            bundle = cached or load_bundle(run_dir)
            results = predict(bundle, [Path(p) for p in paths], device="auto", cancel=ctx.cancel,
                              progress=ctx.progress)
            pictures = []
            for i, r in enumerate(results):
                ctx.cancel.raise_if_cancelled()
                pictures.append(_picture(bundle, r, explain_them and i < MAX_EXPLAINED))
                ctx.progress(i + 1, len(results), "Drawing heatmaps" if explain_them else "Loading pictures")
            return "shown", bundle, results, pictures

        self.task.start(work)

    def predict_folder_to_csv(self, folder: str, csv_path: str) -> None:
        run_dir = self.state.run_dir
        if run_dir is None or self.task.is_running():
            return
        cached = self._busy_bundle(run_dir)

        def work(ctx):
            from core.evaluation.predict import predict, write_predictions_csv
            from core.models.bundle import load_bundle
            bundle = cached or load_bundle(run_dir)
            results = predict(bundle, [Path(folder)], device="auto", cancel=ctx.cancel, progress=ctx.progress)
            write_predictions_csv(Path(csv_path), results, bundle.classes)
            return "csv", bundle, csv_path, len(results), sum(1 for r in results if r.get("label") is None)

        self.task.start(work)

    def _busy_bundle(self, run_dir):
        """Show the busy row; the model already loaded for this run, if any."""
        self.banner.hide()
        self.progress.setRange(0, 0)
        self.busy_row.show()
        for button in (self.files_button, self.folder_button, self.csv_button, self.label_button):
            button.setEnabled(False)
        return self._bundle if self._bundle is not None and self._bundle.run_dir == run_dir else None

    def choose_csv_file(self, folder: str) -> str | None:
        start = str(Path(folder).parent / f"{Path(folder).name} predictions.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Save the predictions as", start, "CSV (*.csv)")
        return path or None

    def result_count(self) -> int:
        return self.results.count()

    def last_label(self) -> str | None:
        if not self.results.count():
            return None
        return self.results.itemWidget(self.results.item(0)).label

    def choose_files(self) -> list[str]:
        start = self.start_folder("try/last_folder")
        pattern = "Images (" + " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS)) + ")"
        files, _ = QFileDialog.getOpenFileNames(self, "Choose images", start, pattern)
        return files

    def choose_folder(self) -> str | None:
        start = self.start_folder("try/last_folder")
        return QFileDialog.getExistingDirectory(self, "Choose a folder of images", start) or None

    # drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and self.state.run_dir is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.predict_paths([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])

    # internals --------------------------------------------------------------------------------
    def _choose_files(self) -> None:
        files = self.choose_files()
        if files:
            app_settings.set_value("try/last_folder", str(Path(files[0]).parent))
            self.predict_paths(files)

    def _choose_folder(self) -> None:
        folder = self.choose_folder()
        if folder:
            app_settings.set_value("try/last_folder", folder)
            self.predict_paths([folder])

    def _label_new(self):
        folder = self.choose_folder()
        if not folder or self.state.run_dir is None or self.state.scan is None:
            return None
        return self.label_folder(folder)

    def label_folder(self, folder: str):
        from app.label_new_dialog import LabelNewDialog
        app_settings.set_value("try/last_folder", folder)
        dialog = LabelNewDialog(self.state.run_dir, self.state.scan.root, folder, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _code, d=dialog: d.new_scan and QTimer.singleShot(
            0, self, lambda scan=d.new_scan: self._train_again(*scan)))  # once the dialog is gone
        dialog.open()
        dialog.start()
        return dialog

    def _train_again(self, scan, words: str) -> None:
        self.state.relabelled(scan)
        self.trainAgainRequested.emit(words)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _folder_to_csv(self) -> None:
        folder = self.choose_folder()
        target = self.choose_csv_file(folder) if folder else None
        if folder and target:
            app_settings.set_value("try/last_folder", folder)
            self.predict_folder_to_csv(folder, target)

    def _on_stopped(self) -> None:
        self.busy_row.hide()
        self.on_enter()

    def _heat_toggled(self, on: bool) -> None:
        """Ticked after pictures were tried without heatmaps: the last batch is drawn again with them."""
        paths, shown, explained = self._last_batch
        if on and shown and not explained and not self.task.is_running() and self.results.count() >= shown:
            self.predict_paths(paths)
            self._last_batch = (paths, shown, True)

    def _on_finished(self, result) -> None:
        if result[0] == "csv":
            _, self._bundle, path, count, unreadable = result
            extra = f" ({unreadable} could not be read; see the error column)" if unreadable else ""
            self.banner.show_message(f"Saved predictions for {count} images to {path}{extra}.", "ok")
            return
        _, self._bundle, results, thumbs = result
        self._shown_run = self._bundle.run_dir
        paths, replaced, explained = self._last_batch
        for _ in range(replaced):  # the same pictures drawn again, now with heatmaps: they replace the first drawing
            self.results.takeItem(0)
        self._last_batch = (paths, len(results), explained)
        if not results:
            self.banner.show_message("No images found there.", "info")
        from core.evaluation.predict import unknown_threshold  # torch is loaded: predictions ran
        for r, thumb in zip(reversed(results), reversed(thumbs)):
            item = QListWidgetItem()
            widget = ResultRow(r, thumb, unknown_threshold(self._bundle))
            item.setSizeHint(widget.sizeHint())
            self.results.insertItem(0, item)
            self.results.setItemWidget(item, widget)
