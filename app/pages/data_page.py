"""Step 1: choose the dataset folder, scan it in the background, show what was found."""

import html
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QScrollArea, QSpinBox,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app import app_settings
from app.glossary import explain
from app.pages.base import WizardPage
from app.pages.data_labels import LabelSheetActions
from app.resources import sample_data_dir
from app.tasks import Task
from app.widgets.busy import BusyRow
from app.widgets.elided import ElidedLabel, breakable
from app.widgets.flow import FlowLayout
from app.widgets.images import pixmap_from_array
from app.widgets.skipped_files import SkippedFiles
from core.data.dataset import scan_dataset, skipped_words
from core.data.health import health_lines
from core.data.thumbnails import class_examples

THUMB = 56


class DataPage(LabelSheetActions, WizardPage):
    openRunRequested = Signal()
    title = "Your images"
    subtitle = ("Choose a folder with one subfolder per class (for example <i>healthy/</i> and <i>diseased/</i>), "
                "or a folder already split into <i>train/</i> and <i>val/</i>. Your folder is only read, never "
                "changed. You can also drop a folder onto this window.")

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.choose_button = QPushButton("Choose folder…")
        self.sample_button = QPushButton("Try with sample data")
        self.sample_button.setToolTip("72 photos of brick, grass and gravel (CC0), bundled with TransferLab")
        self.choose_button.clicked.connect(self._choose)
        self.sample_button.clicked.connect(lambda: self.scan_folder(str(sample_data_dir())))
        self.folder_label = ElidedLabel("No folder chosen yet.")  # a deep folder's path does not widen the window
        self.rescan_button = QPushButton("Scan again")
        self.rescan_button.setToolTip("Read the same folder again, e.g. after fixing or adding images")
        self.rescan_button.clicked.connect(lambda: self.scan_folder(str(self.state.scan.root)))
        self.rescan_button.hide()  # until a folder is scanned
        row = QHBoxLayout()
        row.addWidget(self.choose_button)
        row.addWidget(self.sample_button)
        row.addWidget(self.folder_label, 1)
        row.addWidget(self.rescan_button)
        self.open_run_button = QPushButton("Open a run…")
        self.open_run_button.setToolTip("Open a finished run folder (trained here, in a comparison or on a server) "
                                        "to see its results and try it")
        self.open_run_button.clicked.connect(self.openRunRequested)
        row.addWidget(self.open_run_button)
        self.body.addLayout(row)

        self.busy_row = BusyRow(self.task)
        self.progress, self.cancel_button = self.busy_row.progress, self.busy_row.cancel_button
        self.body.addWidget(self.busy_row)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.body.addWidget(self.summary)
        self.table = QTableWidget(0, 3)
        self.table.setTabKeyNavigation(False)  # Tab moves on to the next control, not the next cell
        self.table.setHorizontalHeaderLabels(["Class", "Images", "Examples"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.body.addWidget(self.table, 2)

        lower = QHBoxLayout()
        self.health_box = QGroupBox("Dataset check")
        health_layout = QVBoxLayout(self.health_box)
        self.health_label = QLabel()
        self.health_label.setWordWrap(True)
        self.health_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.health_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        health_scroll = QScrollArea()
        health_scroll.setWidgetResizable(True)
        health_scroll.setFrameShape(QFrame.Shape.NoFrame)
        health_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # frameless: a Tab stop there shows nothing focused
        health_scroll.setWidget(self.health_label)
        health_scroll.setMinimumHeight(self.fontMetrics().lineSpacing() * 8)  # the counts, without scrolling
        health_layout.addWidget(health_scroll)
        self.duplicates_button = QPushButton("Show the duplicate pictures…")
        self.duplicates_button.setToolTip("Each group side by side, with its paths and Open folder")
        self.duplicates_button.clicked.connect(self.show_duplicates)
        finding = FlowLayout()  # up to four buttons: they wrap rather than widen the window
        finding.addWidget(self.duplicates_button)
        self._label_buttons(finding)  # app.pages.data_labels
        health_layout.addLayout(finding)
        self.health_box.hide()
        lower.addWidget(self.health_box, 2)
        split_box = QGroupBox("Validation split")
        form = QFormLayout(split_box)
        self.val_spin = QDoubleSpinBox()
        self.val_spin.setRange(5, 50)
        self.val_spin.setSuffix(" %")
        self.val_spin.setDecimals(0)
        self.val_spin.setValue(self.state.settings.val_fraction * 100)
        self.val_spin.setToolTip("Share of each class held out to measure accuracy honestly")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 999999)
        self.seed_spin.setValue(self.state.settings.seed)
        self.seed_spin.setToolTip(explain("Random seed", "Stratified split"))
        form.addRow("Held out for validation", self.val_spin)
        form.addRow("Random seed", self.seed_spin)
        self.split_note = QLabel()
        self.split_note.setWordWrap(True)
        form.addRow(self.split_note)
        self.balance_check = QCheckBox("Balance the classes in the loss")
        self.balance_check.toggled.connect(self._balance_changed)
        self.balance_check.setEnabled(False)  # until a scan says whether the classes are balanced
        form.addRow(self.balance_check)
        self.large_check = QCheckBox("Allow very large images")
        self.large_check.setToolTip("<p>Read pictures over 89 megapixels (big scans, aerial photos). They are refused "
                                    "by default because a broken or deliberately made file could use all the "
                                    "computer's memory; allow them only for files you trust. The folder is scanned "
                                    "again.</p>")  # rich text: Qt wraps it
        self.large_check.setChecked(app_settings.get_bool("data/allow_large_images", False))
        self._apply_large_images(self.large_check.isChecked())
        self.large_check.toggled.connect(self._large_images_changed)
        form.addRow(self.large_check)
        self.val_spin.valueChanged.connect(self._split_changed)
        self.seed_spin.valueChanged.connect(self._split_changed)
        lower.addWidget(split_box, 1, Qt.AlignmentFlag.AlignTop)
        self.body.addLayout(lower, 2)
        self.skipped_box = SkippedFiles()  # a row of its own, as wide as the page, several lines high
        self.skipped_list = self.skipped_box.files
        self.body.addWidget(self.skipped_box, 1)

        self.task.progress.connect(self._on_progress)
        self.task.finished.connect(self._on_scanned)
        self.task.cancelled.connect(lambda: self.banner.show_message("Scan cancelled.", "info"))
        self.task.stopped.connect(self._on_stopped)
        self.refresh_task = Task(self)  # previews and dataset check of a scan replaced elsewhere (on_enter)
        self.refresh_task.finished.connect(self._refreshed)
        self.refresh_task.stopped.connect(self._refresh_ended)
        self._refresh_again = False
        self.refresh_task.failed.connect(lambda message: self.banner.show_message(message, "error"))
        self._health: dict = {}
        self._shown_scan = None  # the scan the page shows; the state's may be replaced elsewhere (train again)
        self._thumbs: dict = {}  # class -> example thumbnails of the scan shown
        self._started_from_focus = False

    # public -----------------------------------------------------------------------------------
    def scan_folder(self, folder: str) -> None:
        if self.task.is_running():
            return
        if self.state.scan is None or Path(folder) != Path(self.state.scan.root):
            self._mistakes = ""  # another folder: the last label check was of the one before
        # started from one of the page's buttons (or with no focus at all): the focus returns when it ends
        self._started_from_focus = self.window().focusWidget() in (None, self.choose_button, self.sample_button,
                                                                   self.rescan_button)
        self.banner.hide()
        self.folder_label.show_whole(folder)
        if Path(folder) != sample_data_dir():
            app_settings.set_value("data/last_folder", folder)
        self.progress.setRange(0, 0)
        self.busy_row.show()
        for button in (self.choose_button, self.sample_button, self.rescan_button, self.mistakes_button):
            button.setEnabled(False)
        self.completeChanged.emit()

        def work(ctx):
            scan = scan_dataset(folder, progress=ctx.progress, cancel=ctx.cancel)
            ctx.progress(0, 0, "Looking for duplicates…")
            health = scan.health()
            ctx.progress(0, 0, "Making previews…")
            return scan, class_examples(scan, 3, THUMB, ctx.cancel), health

        self.task.start(work)

    def choose_directory(self) -> str | None:
        start = app_settings.get_str("data/last_folder", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Choose the dataset folder", start)
        return folder or None

    def focus_target(self):
        return self.choose_button if self.state.scan is None else None

    def is_complete(self) -> bool:
        return self.state.scan is not None and not self.state.scan.problems() and not self.task.is_running()

    # internals --------------------------------------------------------------------------------
    def _choose(self) -> None:
        folder = self.choose_directory()
        if folder:
            self.scan_folder(folder)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(done)
        self.progress.setFormat(f"{message or 'Checking images'}  %v / %m" if total else message)

    def _on_stopped(self) -> None:
        self.busy_row.hide()
        for button in (self.choose_button, self.sample_button, self.rescan_button, self.mistakes_button):
            button.setEnabled(True)
        self.completeChanged.emit()
        if self._started_from_focus:
            self.focusReturned.emit()

    def on_enter(self) -> None:
        """The state's scan may have been replaced while another page was shown: read again with corrected or new
        labels (Results' and Try it's "Train again"), or with a class of images of no class added on Results. Its
        counts are shown at once, its previews and dataset check once made; the trained model is kept."""
        scan, shown = self.state.scan, self._shown_scan
        if scan is None or scan is shown or self.task.is_running():
            return
        if shown is not None and scan.label_sheet != shown.label_sheet:
            self._mistakes = ""  # found among the labels as they were
        self._show_scan(scan, self._thumbs, None)
        if not self.refresh_task.is_running():
            self.refresh_task.start(lambda ctx: (scan, class_examples(scan, 3, THUMB, ctx.cancel), scan.health()))

    def _refreshed(self, result) -> None:
        if result[0] is self.state.scan:
            self._show_scan(*result)
        else:
            self._refresh_again = True  # replaced again meanwhile: once this task has ended (_refresh_ended)

    def _refresh_ended(self) -> None:
        again, self._refresh_again = self._refresh_again, False
        if again and self.isVisible():
            self.on_enter()

    def shutdown(self) -> None:
        self.refresh_task.cancel()
        self.refresh_task.wait(15000)
        super().shutdown()

    def _on_scanned(self, result) -> None:
        if result[0] == "copied":
            self._copied(result[1])
            return
        scan, thumbs, health = result
        self.state.scan = scan  # a new dataset: what was advised and trained was for another
        self.state.suggestion = None
        self.state.result = None
        self._show_scan(scan, thumbs, health)

    def _show_scan(self, scan, thumbs: dict, health: dict | None) -> None:
        """``scan``'s classes with their counts and previews, its skipped files and dataset check (``health`` None:
        being made, kept as shown until then), and why it cannot be used, if it cannot."""
        self._shown_scan, self._thumbs = (scan if health is not None else None), thumbs
        self.rescan_button.show()
        counts = scan.class_counts()
        outside = outside_classes(scan)
        self.table.setRowCount(len(scan.classes))
        self.table.setIconSize(QSize(THUMB, THUMB))
        for row, name in enumerate(scan.classes):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            count = QTableWidgetItem(f"{counts.get(name, 0)}")
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, count)
            self.table.removeCellWidget(row, 2)
            if name in outside:
                self.table.setItem(row, 2, QTableWidgetItem("added on the Results page: read from its own folder"))
            else:
                self.table.takeItem(row, 2)
                self.table.setCellWidget(row, 2, _strip(thumbs.get(name, [])))
            self.table.setRowHeight(row, THUMB + 8)
        total = sum(counts.values())
        layout = ("already split into " + ", ".join(f"{k}/" for k in scan.split_folders.values())
                  if scan.layout == "pre-split" else "one subfolder per class")
        sheet = scan.label_sheet
        added = sheet.get("added", 0) if sheet else 0
        corrected = (f" {sheet['changed']} image{'s' * (sheet['changed'] != 1)} relabelled or left out by your label "
                     f"sheet, kept apart from the folder ({html.escape(breakable(sheet['path']))})" +
                     (f", and {added} new image{'s' * (added != 1)} labelled from outside it" if added else "") + "."
                     if sheet else "")
        self.show_sheet_buttons(sheet)
        self.summary.setText(f"<b>{total} images in {len(scan.classes)} classes</b> ({layout}); "
                             f"{skipped_words([s.reason for s in scan.skipped])}.{corrected}")
        self.skipped_box.show_files(scan.skipped, scan.root)
        if health is not None:
            self._show_health(health)
        else:
            self.health_label.setText("Checking the dataset again…")
            self.duplicates_button.hide()
            self.health_box.show()
        presplit = scan.layout == "pre-split"
        self.val_spin.setEnabled(not presplit)
        self.split_note.setText("Your train/val folders are used as they are." if presplit else
                                "Each class is split the same way (stratified).")
        problems = scan.problems()
        if problems:
            undo = ("<br>Your label sheet changed this folder: “Undo all corrections…” under the dataset check brings "
                    "every image back." if sheet and sheet.get("changed") else "")
            self.banner.show_message("This folder cannot be used yet:<br>• " + "<br>• ".join(problems) + undo, "error")
        elif outside:
            self.banner.show_message(f"Also used: {', '.join(f'“{c}”' for c in outside)}, added on the Results page "
                                     "from a folder outside this one. Choose the folder again to train without it.",
                                     "info")
        self.completeChanged.emit()

    def show_duplicates(self):
        from app.duplicates_dialog import DuplicatesDialog
        if self.state.scan is None or not self._health.get("duplicates"):
            return None
        dialog = DuplicatesDialog(self.state.scan.root, self._health["duplicates"], self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _show_health(self, health: dict) -> None:
        self._health = health
        self.duplicates_button.setVisible(bool(health.get("duplicates")))
        skipped = [{"reason": f.reason} for f in self.state.scan.skipped] if self.state.scan else None
        lines = health_lines(health, skipped) + ([f"Possible label mistakes: {self._mistakes}"] if self._mistakes
                                                 else [])
        self.health_label.setText("".join(f"<p style='margin:0 0 4px 0'>{html.escape(line)}</p>" for line in lines))
        self.health_box.setVisible(self.state.scan is not None)
        recommended = health["imbalance"]["weighted_loss_by_default"]
        self.balance_check.setEnabled(True)
        choice = self.state.settings.class_weighting
        self.balance_check.blockSignals(True)
        self.balance_check.setChecked(choice == "on" or (choice == "auto" and recommended))
        self.balance_check.blockSignals(False)
        self.balance_check.setToolTip("Recommended for this dataset: the largest class has "
                                      f"{health['imbalance']['ratio']:g}x the images of the smallest."
                                      if recommended else "Each image counts the same (classes are balanced enough).")

    @staticmethod
    def _apply_large_images(on: bool) -> None:
        from core.data.images import allow_large_images  # Pillow only: no torch at startup
        allow_large_images(on)

    def _large_images_changed(self, on: bool) -> None:
        app_settings.set_value("data/allow_large_images", on)
        self._apply_large_images(on)
        if self.state.scan is not None and not self.task.is_running():
            self.scan_folder(str(self.state.scan.root))

    def _balance_changed(self, on: bool) -> None:
        self.state.settings = replace(self.state.settings, class_weighting="on" if on else "off")

    def _split_changed(self) -> None:
        self.state.settings = replace(self.state.settings, val_fraction=self.val_spin.value() / 100,
                                      seed=self.seed_spin.value())


def outside_classes(scan) -> list[str]:
    """The classes whose images all lie outside the dataset folder (a class of images of no class, from Results)."""
    present, inside = set(), set()
    for item in scan.all_items():
        present.add(item.label)
        if item.path.is_relative_to(scan.root):
            inside.add(item.label)
    return [scan.classes[label] for label in sorted(present - inside)]


def _strip(arrays) -> QWidget:
    """A row of example thumbnails."""
    strip = QWidget()
    lay = QHBoxLayout(strip)
    lay.setContentsMargins(4, 2, 4, 2)
    for array in arrays:
        label = QLabel()
        label.setPixmap(pixmap_from_array(array))
        lay.addWidget(label)
    lay.addStretch(1)
    return strip
