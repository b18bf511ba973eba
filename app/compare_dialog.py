"""Compare models or strategies side by side on the user's images (core.methods.compare): pick candidates, train
them in the background with the same split and budget, watch the curves, read the leaderboard, and
open the winner in the Results page."""

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QGridLayout, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QSpinBox, QVBoxLayout)

from app.pages.base import MessageBanner
from app.tasks import Task
from app.train_job import comparison_job
from app.widgets.busy import BusyRow
from app.widgets.leaderboard import Leaderboard
from app.widgets.overlay_curves import OverlayCurves
from core.methods.compare import SCRATCH, rank_key
from core.models.catalog import CATALOG
from core.models.weights_status import offline_status
from core.training.settings import STRATEGIES, STRATEGY_TITLES

SCRATCH_TITLE = "From scratch (random weights, all layers trained)"
DEFAULT_STRATEGIES = ("feature-extraction", "fine-tune-top")


def _checklist(entries: list[tuple[str, str, bool, str]]) -> QListWidget:
    """(key, text, checked, tooltip) per row."""
    widget = QListWidget()
    for key, text, checked, tip in entries:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, key)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        item.setToolTip(tip)
        widget.addItem(item)
    return widget


def _checked(widget: QListWidget) -> list[str]:
    return [widget.item(i).data(Qt.ItemDataRole.UserRole) for i in range(widget.count())
            if widget.item(i).checkState() == Qt.CheckState.Checked]


class CompareDialog(QDialog):
    runChosen = Signal(str)  # a candidate's run folder, to open in the Results page

    def __init__(self, state, out_dir_factory, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare models and strategies")
        self.state, self.out_dir_factory = state, out_dir_factory
        self.task = Task(self)
        self.out_dir: Path | None = None
        self.current = ""
        offline = {m.name: offline_status(m.name, check_hub=False) != "download" for m in CATALOG}
        self.models = _checklist([(m.name, m.name + ("" if offline[m.name] else "  (download needed)"),
                                   m.name in (state.settings.model_name, "tf_efficientnet_lite1") and offline[m.name],
                                   m.note) for m in CATALOG])
        self.strategies = _checklist([(s, STRATEGY_TITLES[s], s in DEFAULT_STRATEGIES, "") for s in STRATEGIES] +
                                     [(SCRATCH, SCRATCH_TITLE, False, "The same network without ImageNet weights: compare it with the "
                                                "others to see what pretraining buys on your images")])
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 200)
        self.epochs.setValue(min(state.settings.epochs, 5))
        self.cost = QLabel()
        self.cost.setWordWrap(True)
        for signal in (self.models.itemChanged, self.strategies.itemChanged, self.epochs.valueChanged):
            signal.connect(self._update_cost)
        self.start_button = QPushButton("Start comparison")
        self.start_button.clicked.connect(self.start)

        pick = QGridLayout()
        pick.addWidget(QLabel("<b>Models</b>"), 0, 0)
        pick.addWidget(QLabel("<b>Strategies</b>"), 0, 1)
        pick.addWidget(self.models, 1, 0)
        pick.addWidget(self.strategies, 1, 1)
        budget = QHBoxLayout()
        budget.addWidget(QLabel("Epochs for every candidate:"))
        budget.addWidget(self.epochs)
        budget.addWidget(self.cost, 1)
        budget.addWidget(self.start_button)

        self.banner = MessageBanner(self)
        self.busy = BusyRow(self.task)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.curves = OverlayCurves()
        self.board = Leaderboard()
        self.board.itemSelectionChanged.connect(self._update_buttons)
        self.board.doubleClicked.connect(self.open_selected)
        self.open_button = QPushButton("Open in Results")
        self.open_button.setToolTip("Look at this candidate's results, try it on new images, save or export it")
        self.open_button.clicked.connect(self.open_selected)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        intro = QLabel("Every candidate trains on the same images, holds out the same validation images and gets "
                       "the same number of epochs; the leaderboard ranks them by balanced accuracy on the held-out "
                       "images. Each candidate is a normal run you can open afterwards.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(pick, 2)
        layout.addLayout(budget)
        layout.addWidget(self.banner)
        layout.addWidget(self.busy)
        layout.addWidget(self.status)
        layout.addWidget(self.curves, 3)
        layout.addWidget(self.board, 2)
        layout.addWidget(buttons)
        self.task.event.connect(self._on_event)
        self.task.finished.connect(self._on_finished)
        self.task.failed.connect(lambda msg: self.banner.show_message(msg, "error"))
        self.task.cancelled.connect(lambda: self.status.setText("Cancelled. The finished candidates are kept in "
                                                                f"{self.out_dir}."))
        self.task.stopped.connect(self._update_buttons)
        self.resize(980, 820)
        self._update_cost()
        self._update_buttons()

    # what the user does -------------------------------------------------------------------------
    def start(self) -> None:
        models, strategies = _checked(self.models), _checked(self.strategies)
        if self.task.is_running() or not models or not strategies or self.state.scan is None:
            return
        scan = self.state.scan
        base = replace(self.state.settings, epochs=self.epochs.value(), weights_file=None)
        self.out_dir = Path(self.out_dir_factory())
        self.banner.hide()
        self.curves.clear()
        self._show_rows([])
        self.busy.progress.setRange(0, 0)
        self.busy.show()
        self.status.setText("Preparing…")

        def job(ctx):
            from core.methods.compare import make_candidates, small_dataset
            candidates = make_candidates(base, models, strategies, small_dataset(scan, base))
            return comparison_job(scan, candidates, self.out_dir)(ctx)

        self.task.start(job)
        self._update_buttons()

    def open_selected(self) -> None:
        row = self.board.selected_row()
        if row and "error" not in row and not self.task.is_running():
            self.runChosen.emit(row["run_dir"])
            self.accept()

    def reject(self) -> None:
        if self.task.is_running():
            self.task.cancel()
            self.task.wait(30000)
        super().reject()

    # internals --------------------------------------------------------------------------------
    def _update_cost(self) -> None:
        n = len(_checked(self.models)) * len(_checked(self.strategies))
        self.cost.setText(f"{n} candidate{'s' if n != 1 else ''} × {self.epochs.value()} epochs" if n else
                          "Tick at least one model and one strategy.")
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.task.is_running()
        has_candidates = bool(_checked(self.models)) and bool(_checked(self.strategies))
        self.start_button.setEnabled(not running and has_candidates and self.state.scan is not None)
        for widget in (self.models, self.strategies, self.epochs):
            widget.setEnabled(not running)
        row = self.board.selected_row()
        self.open_button.setEnabled(not running and row is not None and "error" not in row)
        if not running:
            self.busy.hide()

    def _on_event(self, event) -> None:
        kind = event[0]
        if kind == "candidate":
            _, index, total, label = event
            self.current = label
            self.busy.progress.setRange(0, total)
            self.busy.progress.setValue(index)
            self.busy.progress.setFormat(f"candidate {index + 1} of {total}")
            self.status.setText(f"Training <b>{label}</b>…")
        elif kind == "epoch":
            e = event[1]
            self.curves.add_epoch(self.current, e.epoch, e.val_accuracy, e.val_loss)
            self.status.setText(f"Training <b>{self.current}</b>: epoch {e.epoch} of {e.epochs}")
        elif kind == "row":
            rows = [*self.board.rows, event[1]]
            rows.sort(key=rank_key)
            self._show_rows(rows)

    def _show_rows(self, rows: list[dict]) -> None:
        self.board.set_rows(rows, {label: self.curves.colour(label) for label in self.curves.series})

    def _on_finished(self, result) -> None:  # core.methods.compare.Comparison
        self._show_rows(result.rows)
        best = next((r for r in result.rows if "error" not in r), None)
        self.status.setText(f"Done. Best: <b>{best['label']}</b> ({best['balanced_accuracy']:.1%} balanced "
                            f"accuracy). All runs are in {self.out_dir}." if best else "No candidate could train.")
        if best:
            self.board.selectRow(0)
