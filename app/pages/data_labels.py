"""The Data step's label-sheet actions (a mixin of DataPage): find possible label mistakes, export a corrected copy,
and undo every correction. The sheet is kept in TransferLab's data folder, apart from the dataset folder, which is
never written to (core.data.label_sheet)."""

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton

from app import app_settings


class LabelSheetActions:
    """Expects a WizardPage with ``state``, ``task``, ``busy_row``, ``banner``, ``scan_folder``, ``_health`` and
    ``_show_health``."""

    def _label_buttons(self, row) -> None:
        self._mistakes = ""  # what the last check of this folder's labels found (a line of the dataset check)
        self.mistakes_button = QPushButton("Find possible label mistakes…")
        self.mistakes_button.setToolTip("Check every image's label against a classifier trained on the other "
                                        "images; relabel or exclude in your label sheet (the folder is not changed)")
        self.mistakes_button.clicked.connect(self.find_label_mistakes)
        self.copy_button = QPushButton("Export corrected copy…")
        self.copy_button.setToolTip("A new folder with one subfolder per class, your label sheet applied (images "
                                    "copied, relabelled ones in their new class, excluded ones left out), for use "
                                    "outside TransferLab. Your folder is not changed.")
        self.copy_button.clicked.connect(self._export_copy)
        self.reset_button = QPushButton("Undo all corrections…")
        self.reset_button.setToolTip("Set your label sheet aside (it is kept as a backup) and read the folder as it "
                                     "is, every image in its own folder's class again")
        self.reset_button.clicked.connect(self.undo_all_corrections)
        for button in (self.mistakes_button, self.copy_button, self.reset_button):
            row.addWidget(button)
        self.copy_button.hide()  # these two until the label sheet changes something
        self.reset_button.hide()

    def show_sheet_buttons(self, sheet: dict | None) -> None:
        changes = bool(sheet and (sheet.get("changed") or sheet.get("added")))
        self.copy_button.setVisible(changes)
        self.reset_button.setVisible(bool(sheet))

    def find_label_mistakes(self):
        from app.label_mistakes_dialog import LabelMistakesDialog
        scan = self.state.scan
        if scan is None or self.task.is_running():
            return None
        s = self.state.settings
        dialog = LabelMistakesDialog(scan, s.model_name, s.image_size, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _code, d=dialog: self._mistakes_reviewed(d))
        dialog.open()
        dialog.find()
        return dialog

    def _mistakes_reviewed(self, dialog) -> None:
        if dialog.found is not None:
            found, images = dialog.found
            self._mistakes = (f"{found} of {images} images, by a classifier on {dialog.model_name}'s features; "
                              f"{dialog.decided_total} decided here.")
        if dialog.changes and self.state.scan is not None:
            self.banner.show_message(f"{dialog.changes} label{'s' * (dialog.changes != 1)} changed or left out in "
                                     "your label sheet: the folder is read again, so training uses them.", "info")
            self.scan_folder(str(self.state.scan.root))
        elif self._mistakes:
            self._show_health(self._health)

    def confirm_undo_all(self) -> bool:
        answer = QMessageBox.question(self, "Undo all corrections?",
                                      "Every relabelled, excluded or added image goes back to how the folder has it. "
                                      "The label sheet is kept as a backup beside it, not deleted.")
        return answer == QMessageBox.StandardButton.Yes

    def undo_all_corrections(self) -> None:
        """The sheet set aside (a walkthrough excluded a class's second image and could not get it back)."""
        from core.data.label_sheet import put_aside
        scan = self.state.scan
        if scan is None or self.task.is_running() or not self.confirm_undo_all():
            return
        backup = put_aside(scan.root)
        self._mistakes = ""
        self.scan_folder(str(scan.root))
        if backup is not None:
            self.banner.show_message(f"Every correction is undone; the label sheet is kept as {backup}.", "info")

    def choose_copy_folder(self) -> str | None:
        start = self.start_folder("data/copy_folder")
        return QFileDialog.getExistingDirectory(self, "Where to put the corrected copy", start) or None

    def _export_copy(self) -> None:
        scan = self.state.scan
        parent = self.choose_copy_folder() if scan is not None and not self.task.is_running() else None
        if not parent:
            return
        app_settings.set_value("data/copy_folder", parent)
        dest = Path(parent) / f"{scan.root.name} (corrected)"
        self.busy_row.begin()

        def work(ctx):
            from core.data.corrected_copy import export_corrected_copy
            return "copied", export_corrected_copy(scan, dest, progress=ctx.progress, cancel=ctx.cancel)
        self.task.start(work)

    def _copied(self, report) -> None:
        extra = "".join(f", {n} {what}" for n, what in ((report.relabelled, "relabelled"),
                                                         (report.excluded, "left out"), (report.added, "added"))
                        if n)
        self.banner.show_message(f"Copied {report.images} images to {report.dest}{extra}. Your folder is unchanged.",
                                 "ok")
