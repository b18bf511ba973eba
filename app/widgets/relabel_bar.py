"""Results: labels corrected from the gallery (confusion cell, top losses) go to the label sheet beside the folder;
this bar counts them and trains again in one click with the same settings. After that run, it shows the earlier
model and the new one on the same validation images: before and after the corrections."""

import html
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from app.tasks import Task
from core.data import label_sheet


def _before(run_dir: Path, scan, ctx, split_from: Path):
    """The earlier model on the validation images of the run in ``split_from`` (the corrected labels): its
    accuracy."""
    from core.evaluation.predict import evaluate
    from core.models.bundle import load_bundle
    return evaluate(load_bundle(run_dir), scan, device="auto", cancel=ctx.cancel, progress=ctx.progress,
                    split_from=split_from).accuracy


def read_again(root):
    """A task that reads the dataset at ``root`` again, its label sheet applied: ("scanned", the scan)."""
    def work(ctx):
        from core.data.dataset import scan_dataset
        return "scanned", scan_dataset(root, progress=ctx.progress, cancel=ctx.cancel)
    return work


class RelabelBar(QWidget):
    trainAgainRequested = Signal(str)  # the corrected scan is in the state: train with it now (what changed, said)

    def __init__(self, state, gallery, parent=None) -> None:
        super().__init__(parent)
        self.state, self.gallery = state, gallery
        self.changes: dict[str, str] = {}  # path -> label, recorded since the shown model was trained
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.train_button = QPushButton("Train again with the corrected labels")
        self.train_button.setToolTip("Read the folder again with your label sheet and train with the same settings")
        self.train_button.clicked.connect(self.train_again)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.train_button)
        self.task = Task(self)
        self.task.finished.connect(self._finished)
        self.task.failed.connect(lambda msg: self._say(f"<b>Could not go on:</b> {html.escape(msg)}"))
        self.task.stopped.connect(lambda: self.train_button.setEnabled(bool(self.changes)))
        gallery.relabelRequested.connect(self.relabel)
        self.hide()

    def relabel(self, path: str, label: str) -> None:
        scan = self.state.scan
        if scan is None:
            return
        label_sheet.record(scan.root, {path: label}, source="results", outside=True)  # added images lie outside
        self.changes[path] = label
        self.gallery.mark(path, "excluded" if label == label_sheet.EXCLUDED else f"relabelled as {label}")
        n = len(self.changes)
        self._say(f"<b>{n} label{'s' * (n != 1)} corrected</b> in your label sheet (kept apart from the folder, not in it) "
                  "since this model was trained.")
        self.train_button.show()
        self.train_button.setEnabled(not self.task.is_running())

    def train_again(self) -> None:
        scan = self.state.scan
        if scan is None or not self.changes or self.task.is_running():
            return
        self.train_button.setEnabled(False)
        self._say("Reading the folder again with your label sheet…")
        self.task.start(read_again(scan.root))

    def after_evaluation(self, run_dir: Path, accuracy: float) -> None:
        """Results shows ``run_dir``: a new model (corrections forgotten), or the one trained again (before/after)."""
        before = self.state.before_relabel
        self.changes = {}
        self.train_button.hide()
        self.label.clear()  # nothing said about an earlier model stays beside another one (a walkthrough)
        self.label.setToolTip("")
        if not before or Path(before["run_dir"]) == Path(run_dir) or self.task.is_running():
            self.hide()
            return
        self._say("Scoring the earlier model on the same validation images…")
        scan = self.state.scan
        earlier, shown = Path(before["run_dir"]), Path(run_dir)
        self.task.start(lambda ctx: ("before", (shown, accuracy, _before(earlier, scan, ctx, shown))))

    def _finished(self, result) -> None:
        kind, value = result
        if kind == "scanned":
            n = len(self.changes)
            self.state.relabelled(value)
            self.trainAgainRequested.emit(f"Training again with {n} corrected label{'s' * (n != 1)} and the same "
                                          "settings; Results will compare the new model with the earlier one.")
            return
        run_dir, after, value = value
        before = self.state.before_relabel
        if before is None or self.state.run_dir is None or Path(self.state.run_dir) != run_dir:
            return self.hide()  # another model is shown by now
        then = before.get("accuracy")
        self._say(f"<b>Before and after your label corrections</b>, on the same validation images with the "
                  f"corrected labels: the earlier model {value:.1%} → this model <b>{after:.1%}</b>."
                  + (f" (The earlier model scored {then:.1%} on the labels as they were.)" if then is not None else ""))
        self.label.setToolTip("The split into training and validation images follows the labels, so the earlier "
                              "model may have trained on some of these validation images; that flatters it.")
        self.state.before_relabel = None

    def _say(self, text: str) -> None:
        self.label.setText(text)
        self.show()
