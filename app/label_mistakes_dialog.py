"""Possible label mistakes, worst first (core.methods.label_issues): each image with its given class, the class
the model suggests and how sure it is, and Keep / Relabel as suggested / Relabel as… / Exclude, one key each.
Every decision goes at once to the label sheet beside the folder (core.data.label_sheet), never into the folder;
Undo writes the label back. Images decided before (a row in the sheet) are not shown again. "Check again" reads
the folder with the corrections and checks once more: a classifier trained on cleaner labels finds mistakes the
first one missed (bench/label_noise.py: a second round won back most of what the noise cost)."""

import html
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMenu,
                               QPushButton, QVBoxLayout)

from app.duplicates_dialog import DuplicatesDialog
from app.tasks import Task
from app.widgets.busy import BusyRow
from app.widgets.images import fitted_pixmap, pixmap_from_array
from core.base.progress import saying
from core.data import label_sheet

PICTURE = 300
ICON = 56
KEPT = "kept"  # a sheet row's source for Keep: the label stays, the image counts as reviewed


def decision_words(label: str, given: str) -> str:
    return ("excluded" if label == label_sheet.EXCLUDED else f"kept as {given}" if label == given else
            f"relabelled as {label}")


class LabelMistakesDialog(QDialog):
    changed = Signal()  # a label was changed or an image excluded: the scan is out of date

    def __init__(self, scan, model_name: str, image_size: int | None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Possible label mistakes")
        self.resize(980, 640)
        self.scan, self.root = scan, Path(scan.root)
        self.issues: list = []
        self.thumbs: dict = {}
        self.summary = ""
        self.found: tuple[int, int] | None = None  # (possible mistakes, images checked), once checked
        self.decided: dict[str, str] = {}  # path -> label recorded here
        self.changes = 0
        self.intro = QLabel("Each image is checked against a classifier trained on the other images (it never saw "
                            "the image it judges). Images whose folder says one class while the classifier is "
                            "confident of another come first. Decisions go to your label sheet, kept in "
                            "TransferLab’s data folder; the folder itself is never changed.")
        self.intro.setWordWrap(True)
        self.task = Task(self)
        self.busy = BusyRow(self.task)
        self.list = QListWidget()
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setMaximumWidth(360)
        self.list.setWordWrap(True)
        self.picture = QLabel()
        self.picture.setFixedSize(PICTURE, PICTURE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.keep_button = QPushButton("Keep its label (K)")
        self.suggested_button = QPushButton("Relabel as suggested (R)")
        self.other_button = QPushButton("Relabel as… (A)")
        self.exclude_button = QPushButton("Exclude (X)")
        self.undo_button = QPushButton("Undo (Ctrl+Z)")
        self.open_button = QPushButton("Open folder")
        self.again_button = QPushButton("Check again with your corrections")
        self.again_button.setToolTip("Read the folder again with your label sheet and check every label once more: "
                                     "a classifier that learns from the corrected labels finds mistakes the first "
                                     "check missed")
        self.again_button.clicked.connect(self.check_again)
        self.rounds = 0  # checks done in this window
        self.decided_before = 0  # decisions of the earlier checks in this window (Undo reaches the last check's)
        self.checking = False  # checking again: the list waits for the answer, nothing can be decided meanwhile
        self.keep_button.setToolTip("The label is right: keep it, and do not show this image again")
        self.exclude_button.setToolTip("Leave the image out of training and evaluation (it stays in your folder)")
        self.keep_button.clicked.connect(self.keep)
        self.suggested_button.clicked.connect(self.relabel_as_suggested)
        self.other_button.clicked.connect(self._choose_other)
        self.exclude_button.clicked.connect(self.exclude)
        self.undo_button.clicked.connect(self.undo)
        self.open_button.clicked.connect(lambda: DuplicatesDialog.open_folder(self._path().parent)
                                         if self._current() else None)
        for keys, slot in (("K", self.keep), ("R", self.relabel_as_suggested), ("A", self._choose_other),
                           ("X", self.exclude), ("Del", self.exclude), ("Ctrl+Z", self.undo),
                           ("Return", self.accept_suggestion), ("Enter", self.accept_suggestion)):
            QShortcut(QKeySequence(keys), self, activated=slot)
        actions = QVBoxLayout()
        actions.addWidget(self.picture, 0, Qt.AlignmentFlag.AlignHCenter)
        actions.addWidget(self.caption)
        for button in (self.keep_button, self.suggested_button, self.other_button, self.exclude_button):
            actions.addWidget(button)
        actions.addStretch(1)
        small = QHBoxLayout()
        small.addWidget(self.undo_button)
        small.addWidget(self.open_button)
        small.addWidget(self.again_button)
        actions.addLayout(small)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(actions, 1)
        self.status = QLabel()
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.busy)
        layout.addLayout(row, 1)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.list.currentRowChanged.connect(self._show)
        self.task.progress.connect(self.busy.report)
        self.task.finished.connect(self._found)
        self.task.failed.connect(self._failed)
        self.task.cancelled.connect(lambda: self.status.setText("Cancelled: no label was checked." if not self.rounds
                                                                else "Cancelled: the list is as it was."))
        self.task.stopped.connect(self._stopped)
        self.model_name, self.image_size = model_name, image_size
        self._update_buttons()

    # finding ---------------------------------------------------------------------------------
    def find(self, read_again: bool = False) -> None:
        """Check every label (in the background); ``read_again``: the folder first, with the sheet as it is now."""
        from core.data.thumbnails import thumbnail
        scan, model_name, image_size = self.scan, self.model_name, self.image_size
        self.busy.begin("Reading your folder again" if read_again else "Computing the features of the images")
        self.status.setText("Checking every image's label…")
        self._update_buttons()

        def work(ctx):
            from core.data.dataset import scan_dataset
            from core.methods.label_issues import find_label_issues
            nonlocal scan
            if read_again:
                scan = scan_dataset(scan.root, progress=ctx.progress, cancel=ctx.cancel)
            found = find_label_issues(scan, model_name, image_size, cancel=ctx.cancel,
                                      progress=saying(ctx.progress, "Computing the features of the images"))
            reviewed = {k for k, v in label_sheet.read_sheet(scan.root).items() if v != label_sheet.UNLABELLED}
            shown = [i for i in found.issues if self._relative(i.path) not in reviewed]
            thumbs = {}
            for n, issue in enumerate(shown):
                ctx.progress(n, len(shown), "Loading pictures")
                thumbs[issue.path] = thumbnail(Path(issue.path), PICTURE)
            return scan, found, shown, thumbs

        self.task.start(work)

    def check_again(self) -> None:
        """The list and Undo stay until the new check has its answer: one that fails (a correction left a class
        one image) loses nothing (a walkthrough found the list emptied and Undo greyed)."""
        if not self.task.is_running():
            self.checking = True
            self.list.setEnabled(False)
            self.find(read_again=True)

    def _failed(self, message: str) -> None:
        again = " Undo a correction (Ctrl+Z) or add images, then check again." if self.decided else ""
        self.status.setText(f"<b>Could not check the labels:</b> {html.escape(message.rstrip('.'))}.{again}")

    def _stopped(self) -> None:
        self.checking = False
        self.busy.hide()
        self.list.setEnabled(True)
        self._update_buttons()

    def _found(self, result) -> None:
        self.scan, found, shown, thumbs = result
        self.checking = False
        if self.rounds:  # decided ones are in the sheet now: the new check leaves them out
            self.decided_before += len(self.decided)
            self.decided = {}
        self.rounds += 1
        self.issues, self.thumbs = shown, thumbs
        self.list.clear()
        for issue in shown:
            item = QListWidgetItem(self._item_text(issue))
            array = thumbs.get(issue.path)
            if array is not None:
                item.setIcon(QIcon(pixmap_from_array(array)))
            item.setToolTip(issue.path)
            self.list.addItem(item)
        hidden = len(found.issues) - len(shown)
        self.found = (len(found.issues), found.images)
        self.summary = (("Checked again with your corrections: " if self.rounds > 1 else "") +
                        f"<b>{len(found.issues)} possible label mistake{'s' * (len(found.issues) != 1)}</b> among "
                        f"{found.images} images" + (f" ({hidden} decided before, not shown)" if hidden else ""))
        self._status()
        if shown:
            self.list.setCurrentRow(0)
            self.list.setFocus()
        self._update_buttons()

    # deciding --------------------------------------------------------------------------------
    def keep(self) -> None:
        issue = self._current()
        if issue is not None:
            self._decide(issue, issue.given, KEPT)

    def relabel_as_suggested(self) -> None:
        issue = self._current()
        if issue is not None:
            self._decide(issue, issue.suggested)

    def accept_suggestion(self) -> None:
        """Enter: what the check suggests (core.methods.label_issues.action_for, measured by bench.label_noise):
        relabel when the model is at least half sure of the other class, else exclude."""
        issue = self._current()
        if issue is not None:
            self.exclude() if issue.action == "exclude" else self.relabel_as_suggested()

    def relabel_as(self, label: str) -> None:
        issue = self._current()
        if issue is not None and label:
            self._decide(issue, label)

    def exclude(self) -> None:
        issue = self._current()
        if issue is not None:
            self._decide(issue, label_sheet.EXCLUDED)

    def undo(self) -> None:
        """The current image's decision taken back, else the last one made (the list has moved on after it): its
        folder's class written again."""
        if self.checking:
            return
        issue = self._current()
        if issue is None or issue.path not in self.decided:
            if not self.decided:
                return
            last = next(reversed(self.decided))
            self.list.setCurrentRow(next(r for r, i in enumerate(self.issues) if i.path == last))
            issue = self._current()
        label = self.decided.pop(issue.path)
        label_sheet.record(self.root, {issue.path: label_sheet.UNLABELLED}, source="undone", outside=True)
        self.changes += -1 if label != issue.given else 0
        self.list.currentItem().setText(self._item_text(issue))
        self._show(self.list.currentRow())
        self._status()

    def _left_in(self, name: str) -> int:
        """How many images class ``name`` has with this check's decisions applied."""
        given = {i.path: i.given for i in self.issues}
        moved = [(given.get(path), label) for path, label in self.decided.items() if given.get(path) != label]
        away, to = sum(g == name for g, _ in moved), sum(t == name for _, t in moved)
        return self.scan.class_counts().get(name, 0) - away + to

    def _decide(self, issue, label: str, source: str = "label mistakes") -> None:
        left = self._left_in(issue.given)
        if label != issue.given and self.decided.get(issue.path, issue.given) == issue.given and left <= 2:
            self.status.setText(f"<b>Not done:</b> “{html.escape(issue.given)}” would be left with {left - 1} "
                                f"image{'s' * (left - 1 != 1)}, and a class needs at least 2 to train. Keep its label, or "
                                "add images of that class first.")  # (a walkthrough was locked out this way)
            return
        before = self.decided.pop(issue.path, issue.given)  # popped: the newest decision comes last (Undo)
        label_sheet.record(self.root, {issue.path: label}, source=source, outside=True)  # added images lie outside
        self.decided[issue.path] = label
        self.changes += (label != issue.given) - (before != issue.given)
        self.list.currentItem().setText(self._item_text(issue))
        if self.changes:
            self.changed.emit()
        self._status()
        after = [r for r in range(self.list.currentRow() + 1, self.list.count())
                 if self.issues[r].path not in self.decided]
        if after:
            self.list.setCurrentRow(after[0])  # on to the next undecided one
        else:
            self._show(self.list.currentRow())  # the last one: its caption says what was decided
        self._update_buttons()

    def _choose_other(self) -> None:
        issue = self._current()
        if issue is None:
            return
        menu = QMenu(self)
        for name in self.scan.classes:
            if name != issue.given:
                menu.addAction(name, lambda n=name: self.relabel_as(n))
        menu.exec(self.other_button.mapToGlobal(self.other_button.rect().bottomLeft()))

    # showing ---------------------------------------------------------------------------------
    def _current(self):
        """The image shown, or None (also while a check runs: its keys decide nothing then)."""
        row = self.list.currentRow() if not self.checking else -1
        return self.issues[row] if 0 <= row < len(self.issues) else None

    def _path(self) -> Path:
        return Path(self._current().path)

    def _relative(self, path: str) -> str:
        return label_sheet.sheet_key(path, self.root)

    def _item_text(self, issue) -> str:
        done = self.decided.get(issue.path)
        what = f"{issue.given} → {issue.suggested} ({issue.suggested_probability:.0%})"
        return f"{'✓ ' + decision_words(done, issue.given) + ' · ' if done is not None else ''}{what}"

    def _show(self, row: int) -> None:
        issue = self._current()
        self._update_buttons()
        if issue is None:
            self.picture.clear()
            self.caption.clear()
            return
        array = self.thumbs.get(issue.path)
        if array is not None:
            self.picture.setPixmap(fitted_pixmap(array, PICTURE))
        else:
            self.picture.setText("unreadable")
        done, exclude = self.decided.get(issue.path), issue.action == "exclude"
        self.caption.setText(
            f"<b>{html.escape(self._relative(issue.path))}</b><br>In the folder of <b>{html.escape(issue.given)}"
            f"</b>. A classifier that never saw this image thinks it is <b>{html.escape(issue.suggested)}</b> "
            f"({issue.suggested_probability:.0%} sure; {issue.given_probability:.0%} for {html.escape(issue.given)})."
            + (f"<br><i>Decided: {html.escape(decision_words(done, issue.given))}.</i>" if done is not None else
               "<br>Suggested (Enter): " + ("exclude it: the model is not sure enough of another class" if exclude
                                            else f"relabel it as {html.escape(issue.suggested)}") + "."))
        self.suggested_button.setText(f"Relabel as {issue.suggested} (R)")
        for button, bold in ((self.suggested_button, not exclude), (self.exclude_button, exclude)):
            button.setStyleSheet("font-weight: bold" if bold else "")

    def _status(self) -> None:
        decided = self.decided_total
        self.status.setText(self.summary + (f" · {decided} decided, {self.changes} label"
                                                            f"{'s' * (self.changes != 1)} changed or left out. "
                                                            "Train again to use them." if decided else "."))

    @property
    def decided_total(self) -> int:
        return self.decided_before + len(self.decided)

    def _update_buttons(self) -> None:
        issue, busy = self._current(), self.checking  # (checking again: nothing decided meanwhile)
        for button in (self.keep_button, self.suggested_button, self.other_button, self.exclude_button,
                       self.open_button):
            button.setEnabled(issue is not None and not busy)
        self.undo_button.setEnabled(bool(self.decided) and not busy)
        self.again_button.setEnabled(self.changes > 0 and not self.task.is_running())

    def reject(self) -> None:
        if self.task.is_running():
            self.task.cancel()
            self.task.wait()
        super().reject()
