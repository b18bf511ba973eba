"""Bar chart of a layer-wise linear probe ("Test every layer"): accuracy per level of the backbone, the chosen cut
highlighted (and named in the caption only where there is one)."""

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.glossary import explain
from app.widgets.plot import plot_widget

BAR, BEST, FINAL = "#9aa0a6", "#1a73e8", "#e8710a"


class ProbeChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        foreground = self.palette().color(self.foregroundRole()).name()
        self.plot = plot_widget(background=self.palette().color(self.backgroundRole()))
        self.plot.setTitle("How well each layer's features tell your classes apart", color=foreground)
        self.plot.setLabel("left", "accuracy of a simple classifier on it, %", color=foreground)
        self.plot.setYRange(0, 100)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMinimumHeight(170)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setObjectName("hint")
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.plot)
        col.addWidget(self.caption)
        self.heights: list[float] = []

    def set_probe(self, probe: dict, cut_index: int | None) -> None:
        """``probe``: core.methods.probe.LayerProbe.to_dict(); ``cut_index``: the level the run will cut at."""
        levels = probe["levels"]
        self.heights = [100 * level["accuracy"] for level in levels] + [100 * probe["final_accuracy"]]
        brushes = [BEST if level["index"] == cut_index else BAR for level in levels] + [FINAL]
        self.plot.clear()
        self.plot.addItem(pg.BarGraphItem(x=list(range(len(self.heights))), height=self.heights, width=0.7,
                                          brushes=brushes))
        self.plot.addItem(pg.InfiniteLine(pos=100 * probe["chance"], angle=0,
                                          pen=pg.mkPen("#5f6368", style=pg.QtCore.Qt.PenStyle.DashLine)))
        ticks = [(i, f"layer {level['index'] + 1}") for i, level in enumerate(levels)]  # as the Strategy text counts
        self.plot.setToolTip("<p>Layers of the network, from the input (left) to the output: " + ", ".join(
            f"layer {level['index'] + 1} = {level['module']}" for level in levels) + f"; layer {len(levels) + 1}: the "
            "final features</p>" + explain("Layer (feature level)", "Test every layer (layer-wise probe)"))
        self.plot.getAxis("bottom").setTicks([ticks + [(len(levels), f"final ({len(levels) + 1})")]])
        self.caption.setToolTip(explain("Simple classifier (linear)", "Cross-validation", "Majority-class baseline"))
        cut = "blue: where the network is cut; " if any(level["index"] == cut_index for level in levels) else ""
        self.caption.setText(f"Each bar: a simple classifier on one layer's features, tested by cross-validation on "
                             f"{probe['images']} of your training images ({cut}orange: the "
                             f"final features; dashed: always answering the most common class). Early layers hold "
                             f"generic features such as edges, colours and textures; later ones are more specific to "
                             f"ImageNet.")
