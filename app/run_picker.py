"""Open a run…: the runs this app has trained, newest first, with what each is, or another folder."""

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QFileDialog, QHeaderView, QLabel,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from core.training import runs

COLUMNS = ["When", "Model", "Images", "Status", "Validation accuracy"]
STATUS_WORDS = {"finished": "finished", "cancelled": "stopped by Cancel", "failed": "stopped by an error",
                "interrupted": "interrupted (can be resumed)", "running": "training now", "discarded": "discarded"}


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
            for c, text in enumerate((row["when"], row["model"], row["images"], status, accuracy)):
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
        self.resize(820, 420)
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
