"""Open a run…: the runs this app has trained, newest first, with what each is, or another folder."""

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QFileDialog, QHeaderView, QLabel,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from core.methods.auto_search import CANDIDATES_DIR
from core.training import runs

COLUMNS = ["When", "Model", "Images", "Status", "Validation accuracy", "What was trained"]
STRATEGY_WORDS = {"feature-extraction": "Classifier on the final features",
                  "truncated": "Classifier on earlier-layer features",
                  "fine-tune-top": "Fine-tuning the top layers", "fine-tune-all": "Fine-tuning all layers"}
STATUS_WORDS = {"finished": "finished", "cancelled": "stopped by Cancel", "failed": "stopped by an error",
                "interrupted": "interrupted (can be resumed)", "running": "training now", "discarded": "discarded"}


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def trained_words(run_dir: str | Path) -> str:
    """What a run trained, from its record and model description: Auto with its budget and the candidate
    it kept, or the strategy chosen by hand in plain words (two runs of one model and dataset differ here)."""
    run_dir = Path(run_dir)
    meta = runs.model_description(run_dir)
    auto = meta.get("auto")
    if isinstance(auto, dict):
        budget = str(auto.get("budget", ""))
        budget = budget if not budget.replace(".", "", 1).isdigit() else f"{float(budget):g} min"
        kept = next((r.get("title") for r in auto.get("rows", []) if r.get("winner")), None)
        return f"Auto ({budget})" + (f": kept {kept[0].lower() + kept[1:]}" if kept else "")
    if (run_dir / CANDIDATES_DIR).is_dir():
        return "Auto (did not finish: no candidate kept)"
    s = _json(run_dir / runs.RUN_FILE).get("settings") or meta.get("settings") or {}
    words = STRATEGY_WORDS.get(s.get("strategy"), str(s.get("strategy") or "?"))
    if s.get("with_level") is not None and s.get("strategy") == "feature-extraction":
        words = "Classifier on the final and earlier-layer features"
    depth = s.get("freeze_depth") or 0
    if s.get("strategy") == "fine-tune-top" and depth:
        words = f"Fine-tuning the top {depth} layer group{'s' if depth != 1 else ''}"
    elif s.get("strategy") in ("feature-extraction", "truncated") and depth:
        words += f", top {depth} layer group{'s' if depth != 1 else ''} fine-tuned"
    if s.get("augmentation") not in (None, "none"):
        words += f", {s['augmentation']} augmentation"
    if s.get("pretrained") is False:
        words += ", from scratch (no pretrained weights)"
    return words


class RunPicker(QDialog):
    """``chosen`` is the run folder picked (or browsed to) once the dialog is accepted."""

    def __init__(self, runs_dir: Path, start_folder: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a run")
        self.start_folder, self.chosen = start_folder, None
        self.rows = runs.summaries(runs_dir)
        intro = QLabel("Runs trained with TransferLab on this computer, newest first. A run that stopped early "
                       "is offered for resuming when it is opened." if self.rows else
                       f"No runs in {runs_dir} yet. Browse to a run folder trained elsewhere (in a comparison, "
                       "on a server).")
        intro.setWordWrap(True)
        self.table = QTableWidget(len(self.rows), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTabKeyNavigation(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        for r, row in enumerate(self.rows):
            accuracy = f"{row['val_accuracy']:.1%}" if row["val_accuracy"] is not None else "no model yet"
            status = STATUS_WORDS.get(row["status"], row["status"])
            if row["status"] == "interrupted" and not row["epochs"]:
                status = "interrupted before its first epoch ended (cannot be resumed)"
            elif row["of"] and row["status"] != "finished":
                status += f" after epoch {row['epochs']} of {row['of']}"
            trained = trained_words(row["run_dir"])
            for c, text in enumerate((row["when"], row["model"], row["images"], status, accuracy, trained)):
                item = QTableWidgetItem(text)
                item.setToolTip(row["run_dir"])
                self.table.setItem(r, c, item)
        if self.rows:
            self.table.selectRow(0)
        self.table.doubleClicked.connect(self.accept)
        browse = QPushButton("Another folder…")
        browse.setToolTip("A run folder that is not in the list: trained in a comparison, on a server, or moved")
        browse.clicked.connect(self.browse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton(browse, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Open).setEnabled(bool(self.rows))
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(1100, 420)
        self.table.setFocus(Qt.FocusReason.OtherFocusReason)

    def accept(self) -> None:
        row = self.table.currentRow()
        if self.chosen is None and 0 <= row < len(self.rows):
            self.chosen = self.rows[row]["run_dir"]
        if self.chosen is not None:
            super().accept()

    def browse(self) -> None:
        folder = self.choose_folder()
        if folder:
            self.chosen = folder
            super().accept()

    def choose_folder(self) -> str | None:  # tests replace the file dialog
        return QFileDialog.getExistingDirectory(self, "Open a run folder", self.start_folder) or None
