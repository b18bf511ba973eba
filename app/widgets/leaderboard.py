"""A comparison's leaderboard: one row per candidate, best balanced accuracy first."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

COLUMNS = ["#", "Candidate", "Accuracy", "Balanced acc.", "s / epoch", "Parameters", "Size"]
TIPS = {2: "Share of the held-out images classified correctly",
        3: "Mean of the per-class recalls: fair when classes have different sizes (the ranking uses it)",
        4: "Seconds per training epoch on this computer",
        5: "Parameters of the whole model (millions)",
        6: "Size of the saved weights file"}


class Leaderboard(QTableWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        for col, tip in TIPS.items():
            self.horizontalHeaderItem(col).setToolTip(tip)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict], colours: dict[str, str] | None = None) -> None:
        """``colours``: each candidate's curve colour, shown as a swatch beside its name."""
        self.rows = list(rows)
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            if "error" in row:
                values = [str(r + 1), row["label"], "failed", row["error"], "", "", ""]
            else:
                values = [str(r + 1), row["label"], f"{row['accuracy']:.1%}", f"{row['balanced_accuracy']:.1%}",
                          f"{row['seconds_per_epoch']:.1f}", f"{row['params_m']:.1f} M", f"{row['size_mb']:.1f} MB"]
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c != 1 and "error" not in row:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 3 and "error" in row:
                    item.setToolTip(row["error"])
                if c == 1 and colours and row["label"] in colours:
                    swatch = QPixmap(12, 12)
                    swatch.fill(QColor(colours[row["label"]]))
                    item.setIcon(swatch)
                self.setItem(r, c, item)

    def selected_row(self) -> dict | None:
        index = self.currentRow()
        return self.rows[index] if 0 <= index < len(self.rows) else None
