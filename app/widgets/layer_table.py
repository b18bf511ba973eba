"""The network's layer groups, input at the top, each marked trained, frozen or cut off (the Freeze step)."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QPalette
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from core.models.layer_words import LEVEL_EXAMPLES, feature_level

COLUMNS = ["Group", "Parameters", "Trained?"]


class LayerGroupTable(QTableWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setTabKeyNavigation(False)  # Tab moves on to the next control, not the next cell
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setToolTip("Input at the top, output at the bottom. Training starts from the output.")
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setMinimumHeight(120)

    def fill(self, groups: list[dict]) -> None:
        """One row per group ({"name", "params"}, and "level": its place in words as the Strategy step counts the
        network's layers, core.methods.advisor.group_levels), titled in plain words, the module names in the tooltip."""
        self.setRowCount(len(groups))
        for row, g in enumerate(groups):
            # short: the column says "Group" (the whole title was cut off)
            level = g.get("level") if g.get("level") in LEVEL_EXAMPLES else feature_level(row, len(groups))
            name = QTableWidgetItem(f"{row + 1} of {len(groups)} · {level} ({LEVEL_EXAMPLES[level]})")
            name.setToolTip(f"Layer group {row + 1} of {len(groups)} ({level} features: {LEVEL_EXAMPLES[level]}). "
                            f"Modules in the network: {g['name']} (group 1 is nearest the input image)")
            params = QTableWidgetItem(f"{int(g['params']):,}")
            params.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(row, 0, name)
            self.setItem(row, 1, params)
            self.setItem(row, 2, QTableWidgetItem())

    def mark(self, first_trained: int, used: int) -> None:
        """Rows ``first_trained`` .. ``used`` - 1 train, the ones before stay frozen, the ones after are cut off."""
        fill = QColor(self.palette().color(QPalette.ColorRole.Highlight))
        fill.setAlpha(50)
        muted = self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        normal = self.palette().color(QPalette.ColorRole.Text)
        for row in range(self.rowCount()):
            trained = first_trained <= row < used
            unused = row >= used
            self.item(row, 2).setText("✓ trained" if trained else "unused (cut)" if unused else "frozen")
            for col in range(len(COLUMNS)):
                item = self.item(row, col)
                item.setBackground(QBrush(fill) if trained else QBrush())
                item.setForeground(QBrush(muted if unused else normal))
                font = item.font()
                font.setBold(trained)
                font.setStrikeOut(unused and col == 0)
                item.setFont(font)
