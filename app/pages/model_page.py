"""Step 2: choose a pretrained model from the catalog; import or download its weights."""

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
                               QPushButton, QTableWidget, QTableWidgetItem)

from app import app_settings
from app.pages.base import WizardPage
from app.tasks import Task
from core.catalog import CATALOG, DEFAULT_MODEL
from core.weights_status import offline_status


def _load_weights(name: str, weights_file: Path | None = None) -> None:
    """Create the model with its weights (in a worker: this imports torch, and may download)."""
    from core.weights import create_backbone
    create_backbone(name, weights_file=weights_file)

STATUS_TEXT = {"bundled": "✓ on this computer (bundled)", "cached": "✓ on this computer",
               "download": "download needed (internet)"}
COLUMNS = ["Model", "Parameters", "Input", "ImageNet top-1", "CPU speed", "Weights", "About"]


class ModelPage(WizardPage):
    title = "Model"
    subtitle = ("Pick the pretrained network to start from. Smaller models train faster on a laptop; larger "
                "ones are often a little more accurate. Models marked “on this computer” work offline.")

    compareRequested = Signal()

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.table = QTableWidget(len(CATALOG), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.body.addWidget(self.table, 1)

        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)
        self.body.addWidget(self.weights_label)
        self.import_button = QPushButton("Import weights file…")
        self.import_button.setToolTip("A .safetensors file, or a PyTorch state dict (.pth/.pt) — files that "
                                      "could run code are refused")
        self.clear_button = QPushButton("Use standard weights")
        self.download_button = QPushButton("Download weights")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        row = QHBoxLayout()
        row.addWidget(self.import_button)
        row.addWidget(self.clear_button)
        row.addWidget(self.download_button)
        row.addWidget(self.progress, 1)
        row.addStretch(1)
        self.compare_button = QPushButton("Compare models…")
        self.compare_button.setToolTip("Train several models or strategies on your images with the same budget "
                                       "and see them side by side")
        self.compare_button.clicked.connect(self.compareRequested)
        row.addWidget(self.compare_button)
        self.body.addLayout(row)

        self.import_button.clicked.connect(self._import)
        self.clear_button.clicked.connect(self._clear_import)
        self.download_button.clicked.connect(self._download)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.task.finished.connect(self._on_weights_ready)
        self.task.stopped.connect(self._refresh)
        self.statuses: dict[str, str] = {}
        # The Hugging Face cache check needs timm (hence torch): done in the background, once.
        self.status_task = Task(self)
        self.status_task.finished.connect(self._on_statuses)
        self._hub_checked = False
        remembered = app_settings.get_str("model/name", DEFAULT_MODEL)
        if any(m.name == remembered for m in CATALOG):
            self.state.settings = replace(self.state.settings, model_name=remembered)
        self._fill()

    def _fill(self, statuses: dict[str, str] | None = None) -> None:
        self.statuses = statuses or {m.name: offline_status(m.name, check_hub=False) for m in CATALOG}
        for row, m in enumerate(CATALOG):
            values = [m.name, f"{m.params_m:.1f} M", f"{m.input_size} px", f"{m.imagenet_top1:.1f} %",
                      f"{m.relative_cpu_speed:.1f}×", STATUS_TEXT[self.statuses[m.name]], m.note]
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if col in (1, 2, 3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if col == 4:
                    item.setToolTip(f"About {m.cpu_images_per_s} images/s on a 2-core CPU; relative to the default")
                self.table.setItem(row, col, item)
            if m.name == self.state.settings.model_name:
                self.table.selectRow(row)
        self.table.resizeRowsToContents()

    def on_enter(self) -> None:
        self._fill(self.statuses if self._hub_checked else None)
        self._refresh()
        if not self._hub_checked and not self.status_task.is_running():
            self.status_task.start(lambda ctx: {m.name: offline_status(m.name) for m in CATALOG})

    def _on_statuses(self, statuses: dict[str, str]) -> None:
        self._hub_checked = True
        self._fill(statuses)
        self._refresh()

    def shutdown(self) -> None:
        self.status_task.cancel()
        self.status_task.wait(15000)
        super().shutdown()

    def selected_model(self) -> str:
        return self.state.settings.model_name

    def select_model(self, name: str) -> None:
        for row, m in enumerate(CATALOG):
            if m.name == name:
                self.table.selectRow(row)

    def is_complete(self) -> bool:
        s = self.state.settings
        return not self.task.is_running() and (bool(s.weights_file) or self.statuses.get(s.model_name) != "download")

    def choose_weights_file(self) -> str | None:
        start = app_settings.get_str("model/last_weights_folder", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Import pretrained weights", start,
                                              "Weights (*.safetensors *.pth *.pt *.bin);;All files (*)")
        return path or None

    # internals --------------------------------------------------------------------------------
    def _selection_changed(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        name = CATALOG[rows[0].row()].name
        if name != self.state.settings.model_name:
            self.state.settings = replace(self.state.settings, model_name=name, weights_file=None)
            app_settings.set_value("model/name", name)
        self._refresh()

    def _refresh(self) -> None:
        s = self.state.settings
        status = self.statuses.get(s.model_name, "download")
        if s.weights_file:
            text = f"<b>{s.model_name}</b> with your imported weights: {Path(s.weights_file).name}"
        elif status == "download":
            text = (f"<b>{s.model_name}</b>: its ImageNet weights are not on this computer yet. Download them "
                    "(needs internet) or import a weights file.")
        else:
            text = f"<b>{s.model_name}</b>: ImageNet weights are on this computer; no internet needed."
        self.weights_label.setText(text)
        running = self.task.is_running()
        self.progress.setVisible(running)
        self.download_button.setVisible(status == "download" and not s.weights_file)
        self.download_button.setEnabled(not running)
        self.import_button.setEnabled(not running)
        self.clear_button.setVisible(bool(s.weights_file))
        self.table.setEnabled(not running)
        self.completeChanged.emit()

    def _import(self) -> None:
        path = self.choose_weights_file()
        if not path:
            return
        app_settings.set_value("model/last_weights_folder", str(Path(path).parent))
        name = self.state.settings.model_name
        self.banner.hide()
        self.task.start(lambda ctx: ("import", _load_weights(name, Path(path)) or path))
        self._refresh()

    def _clear_import(self) -> None:
        self.state.settings = replace(self.state.settings, weights_file=None)
        self._refresh()

    def _download(self) -> None:
        name = self.state.settings.model_name
        self.banner.show_message(f"Downloading the weights for {name}…", "info")
        self.task.start(lambda ctx: ("download", _load_weights(name) or name))
        self._refresh()

    def _on_weights_ready(self, result) -> None:
        kind, value = result
        if kind == "import":
            self.state.settings = replace(self.state.settings, weights_file=value)
            self.banner.show_message(f"Imported weights from {Path(value).name}.", "ok")
        else:
            self.banner.show_message(f"Downloaded the weights for {value}.", "ok")
            self._fill({**self.statuses, value: "cached"})
