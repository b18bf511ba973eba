"""Step 2: choose a pretrained model from the catalog; import or download its weights."""

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
                               QPushButton, QTableWidget, QTableWidgetItem)

from app import app_settings
from app.glossary import explain
from app.pages.base import WizardPage
from app.tasks import Task
from app.widgets.busy import BusyRow
from core.models.catalog import CATALOG, DEFAULT_MODEL
from core.models.weights_status import offline_status


def _load_weights(name: str, weights_file: Path | None = None) -> None:
    """Create the model with its weights (in a worker: this imports torch, and may download)."""
    from core.models.weights import create_backbone
    create_backbone(name, weights_file=weights_file)

# two short lines where one would be long: the columns size to their widest line, and About keeps its room
STATUS_TEXT = {"bundled": "✓ on this computer\n(bundled)", "cached": "✓ on this computer",
               "download": "download needed\n(internet)"}
NOTE_WORDS = {"convnext_tiny": ("Convolutional network (CNN)",), "vit_small_patch16_224": ("Vision transformer",)}
COLUMNS = ["Model", "Parameters", "Input", "ImageNet top-1", "CPU speed", "Weights", "Fit for your images", "About"]
FIT = COLUMNS.index("Fit for your images")
HEADERS = [{"ImageNet top-1": "ImageNet\ntop-1", "CPU speed": "CPU\nspeed", COLUMNS[FIT]: "Fit for\nyour images"}
           .get(name, name) for name in COLUMNS]  # as shown: narrow headers over narrow numbers


def _rank(scan, ctx):
    from core.methods.ranking import explain, rank_models
    scores = rank_models(scan, progress=ctx.progress, cancel=ctx.cancel)
    return [s.to_dict() for s in scores], explain(scores)


CLEAR_LEAD = 0.05  # of the fit score (LogME, per image): a rule of thumb, not yet measured on bench.rank's sets


class ModelPage(WizardPage):
    title = "Model"
    subtitle = ("Pick the pretrained network to start from. Smaller models train faster on a laptop; larger "
                "ones are often a little more accurate. Models marked “on this computer” work offline.")

    compareRequested = Signal()

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.table = QTableWidget(len(CATALOG), len(COLUMNS))
        self.table.setTabKeyNavigation(False)  # Tab moves on to the next control, not the next cell
        self.table.setHorizontalHeaderLabels(HEADERS)
        for column, terms in ((1, ("Parameters",)), (3, ("ImageNet top-1",)), (FIT, ("Fit score (LogME)",))):
            self.table.horizontalHeaderItem(column).setToolTip(explain(*terms))
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)  # the About notes wrap instead of ending in "…" (whole as tooltips too)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
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
        self.rank_button = QPushButton("Rank models for my data")
        self.rank_button.setToolTip("Run each model whose weights are on this computer once over a sample of your "
                                    "images and score how well its features fit your classes — no training")
        self.rank_button.clicked.connect(self.rank)
        row.addWidget(self.rank_button)
        self.compare_button = QPushButton("Compare models…")
        self.compare_button.setToolTip("Train several models or strategies on your images with the same budget "
                                       "and see them side by side")
        self.compare_button.clicked.connect(self.compareRequested)
        row.addWidget(self.compare_button)
        self.body.addLayout(row)
        self.rank_task = Task(self)
        self.rank_busy = BusyRow(self.rank_task)
        self.body.addWidget(self.rank_busy)
        self.rank_label = QLabel()
        self.rank_label.setWordWrap(True)
        self.rank_label.setObjectName("hint")
        self.rank_label.hide()
        self.body.addWidget(self.rank_label)
        self.rank_task.progress.connect(self._rank_progress)
        self.rank_task.finished.connect(self._on_ranked)
        self.rank_task.failed.connect(lambda msg: self.banner.show_message(msg, "error"))
        self.rank_task.stopped.connect(self._rank_stopped)
        self.fit: dict[str, tuple[int, dict, str]] = {}  # model -> (rank, score, sentence)
        self._fit_scan = None  # the dataset scan the scores are for
        self._rank_words = None  # ((best model, its sentence's end) or None, the rest), for _show_rank

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
                      f"{m.relative_cpu_speed:.1f}×", STATUS_TEXT[self.statuses[m.name]], self._fit_text(m.name),
                      m.note]
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if col in (1, 2, 3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if col == 4:
                    item.setToolTip(f"About {m.cpu_images_per_s} images/s on a 2-core CPU; relative to the default")
                if col == len(COLUMNS) - 1:
                    item.setToolTip(f"<p>{m.note}</p>" + explain(*NOTE_WORDS.get(m.name, ())))
                if col == FIT and m.name in self.fit:
                    item.setToolTip(self.fit[m.name][2])
                self.table.setItem(row, col, item)
            if m.name == self.state.settings.model_name:
                self.table.selectRow(row)
        self.table.setColumnHidden(FIT, not self.fit)  # empty until "Rank models": room for About
        self.table.resizeRowsToContents()

    def on_enter(self) -> None:
        if self.fit and self._fit_scan is not self.state.scan:  # scores of another dataset
            self.fit, self._fit_scan, self._rank_words = {}, None, None
            self.rank_label.hide()
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
        self.rank_task.cancel()
        self.rank_task.wait(15000)
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

    def rank(self) -> None:
        """Score the models on this dataset in the background (core.methods.ranking)."""
        scan = self.state.scan
        if scan is None or self.rank_task.is_running():
            return
        self.banner.hide()
        self.rank_busy.progress.setRange(0, 0)
        self.rank_busy.show()
        had_focus = self.rank_button.hasFocus()
        self.rank_button.setEnabled(False)
        if had_focus:  # not the next button in line ("Compare models…", where a walkthrough's Enter would land)
            self.rank_busy.cancel_button.setFocus()
        self.rank_task.start(lambda ctx: (scan, *_rank(scan, ctx)))

    # internals --------------------------------------------------------------------------------
    def _fit_text(self, name: str) -> str:
        if name not in self.fit:
            return ""
        rank, score, _ = self.fit[name]
        if score["skipped_reason"]:
            return "not scored\n(weights not here)" if "not on this computer" in score["skipped_reason"] else \
                "not scored"
        probe = f"\nquick check {score['probe_accuracy']:.0%}" if score["probe_accuracy"] is not None else ""
        return f"#{rank} · fit {score['logme']:.2f}{probe}"

    def _rank_progress(self, done: int, total: int, message: str) -> None:
        self.rank_busy.progress.setRange(0, total)
        self.rank_busy.progress.setValue(done)
        self.rank_busy.progress.setFormat(message or "%p%")

    def _rank_stopped(self) -> None:
        had_focus = self.rank_busy.cancel_button.hasFocus()
        self.rank_busy.hide()
        self.rank_button.setEnabled(self.state.scan is not None)
        if had_focus:  # back where it was, so the keyboard user knows where they are
            self.table.setFocus()

    def _on_ranked(self, result) -> None:
        self._fit_scan, scores, sentences = result
        self.fit, rank = {}, 0
        for score, sentence in zip(scores, sentences[1:]):
            rank += score["skipped_reason"] is None
            self.fit[score["model_name"]] = (rank, score, sentence)
        scored = [s for s in scores if s["skipped_reason"] is None]
        best = scored[0] if scored else None
        lead = ""
        if len(scored) > 1:
            gap = best["logme"] - scored[1]["logme"]
            clear = gap >= CLEAR_LEAD
            lead = (f" Its lead over {scored[1]['model_name']} ({gap:.2f}) is {'clear' if clear else 'small'}"
                    f"{'' if clear else ': either should do about as well'}.")
        self._rank_words = ((best["model_name"], f", scored on {best['images']} of your images without training."
                             f"{lead} ") if best else None, sentences[0] + " The quick check is the accuracy of such "
                            "a classifier on a small sample, so it can differ from the Strategy page's measurement on "
                            "another sample. Models whose weights are not on this computer were not scored.")
        self.rank_label.show()
        self._fill(self.statuses)
        if best is not None:
            self.select_model(best["model_name"])
        self._show_rank()

    def _show_rank(self) -> None:
        """The ranking's sentence; "(selected)" follows the table's selection, not the moment of ranking."""
        if self._rank_words is None:
            return
        best, rest = self._rank_words
        if best is None:
            self.rank_label.setText("No model could be scored. " + rest)
            return
        chosen = self.state.settings.model_name
        picked = "(selected)" if chosen == best[0] else f"(you picked <b>{chosen}</b> instead)"
        self.rank_label.setText(f"Best fit for your images: <b>{best[0]}</b> {picked}{best[1]}{rest}")

    def _selection_changed(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        name = CATALOG[rows[0].row()].name
        if name != self.state.settings.model_name:
            self.state.settings = replace(self.state.settings, model_name=name, weights_file=None)
            app_settings.set_value("model/name", name)
        self._show_rank()
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
        self.rank_button.setEnabled(self.state.scan is not None and not self.rank_task.is_running())
        self.compare_button.setEnabled(self.state.scan is not None)
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
