"""Label new images, the most useful first (core.methods.labelling): one picture at a time with the model's guess,
one key per class, Skip, "None of these" and Undo. Each label goes at once to the label sheet beside the dataset
(core.data.label_sheet), never into a folder; the model is refreshed every few labels in the background and the
held-out accuracy after each refresh is shown. "Train again with the new labels" reads the dataset again with
them and closes; the scan is then in ``new_scan``."""

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from app.tasks import Task
from app.widgets.busy import BusyRow
from app.widgets.relabel_bar import read_again
from app.widgets.images import fitted_pixmap
from core.base.progress import saying
from core.data import label_sheet

PICTURE = 320
REFRESH_EVERY = 10


CLASS_KEYS = "1234567890ABCDEFGHIJKLMOPQRTUVWXYZ"  # one per class; S and N are Skip and None of these


class LabelNewDialog(QDialog):

    def __init__(self, run_dir, root, folder, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Label new images, the most useful first")
        self.resize(900, 620)
        self.run_dir, self.root, self.folder = Path(run_dir), Path(root), Path(folder)
        self.session = None
        self.current: int | None = None
        self.decisions: list[tuple[int, str]] = []  # (image, what was recorded), for Undo
        self.new_scan: tuple | None = None  # (the dataset's scan with the new labels, what changed in words)
        intro = QLabel(f"Images of <b>{html.escape(str(self.folder))}</b>, the ones whose label would help the "
                       "model most first: those it is least sure of, and unlike each other. Press a class's key "
                       "(the model's guess is marked; Enter takes it). Labels go to your label sheet, kept in "
                       "TransferLab's data folder; no folder of images is changed.")
        intro.setWordWrap(True)
        self.task = Task(self)
        self.busy = BusyRow(self.task)
        self.picture = QLabel()
        self.picture.setFixedSize(PICTURE, PICTURE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.class_box = QWidget()
        self.class_grid = QGridLayout(self.class_box)
        self.class_buttons: dict[str, QPushButton] = {}
        self.skip_button = QPushButton("Skip (S)")
        self.none_button = QPushButton("None of these (N)")
        self.none_button.setToolTip("The image belongs to none of the classes: recorded, not trained on")
        self.undo_button = QPushButton("Undo (Ctrl+Z)")
        self.skip_button.clicked.connect(self.skip)
        self.none_button.clicked.connect(self.none_of_these)
        self.undo_button.clicked.connect(self.undo)
        for keys, slot in (("S", self.skip), ("N", self.none_of_these), ("Ctrl+Z", self.undo),
                           ("Return", self.take_guess), ("Enter", self.take_guess)):
            QShortcut(QKeySequence(keys), self, activated=slot)
        self.every = QSpinBox()
        self.every.setRange(1, 500)
        self.every.setValue(REFRESH_EVERY)
        self.every.setPrefix("Refresh the model every ")
        self.every.setSuffix(" labels")
        self.every.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # focused, it took the class keys 1-9 as digits
        self.counter = QLabel()
        self.counter.setWordWrap(True)
        self.train_button = QPushButton("Train again with the new labels")
        self.train_button.setToolTip("Read the dataset again with your label sheet and train with the same settings")
        self.train_button.clicked.connect(self.train_again)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        for button in (close, self.train_button):  # Enter takes the model's guess; it never closes the window
            button.setAutoDefault(False)
        side = QVBoxLayout()
        side.addWidget(self.caption)
        side.addWidget(self.class_box)
        row = QHBoxLayout()
        for button in (self.skip_button, self.none_button, self.undo_button):
            row.addWidget(button)
        side.addLayout(row)
        side.addStretch(1)
        side.addWidget(self.every)
        top = QHBoxLayout()
        top.addWidget(self.picture, 0, Qt.AlignmentFlag.AlignTop)
        top.addLayout(side, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.counter, 1)
        bottom.addWidget(self.train_button)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.busy)
        layout.addLayout(top, 1)
        layout.addLayout(bottom)
        self.task.progress.connect(self.busy.report)
        self.task.finished.connect(self._finished)
        self.task.failed.connect(lambda msg: self.caption.setText(f"<b>Could not go on:</b> {html.escape(msg)}"))
        self.task.cancelled.connect(lambda: self.caption.setText("Cancelled."))
        self.task.stopped.connect(self._stopped)
        self._update()

    # the session -----------------------------------------------------------------------------
    def start(self) -> None:
        run_dir, folder = self.run_dir, self.folder
        self.busy.begin("Loading the model")
        self.caption.setText("Looking at the images…")

        def work(ctx):
            from core.methods.labelling import LabellingSession
            from core.models.bundle import load_bundle
            return "session", LabellingSession(load_bundle(run_dir), folder,
                                                        saying(ctx.progress, "Looking at the new images"), ctx.cancel)
        self.task.start(work)

    def _finished(self, result) -> None:
        kind, value = result
        if kind == "session":
            self.session = value
            for i, name in enumerate(value.classes):
                key = CLASS_KEYS[i] if i < len(CLASS_KEYS) else ""  # (a walkthrough's 13 classes: 4 had none)
                button = QPushButton(f"{key}  {name}" if key else name)
                button.clicked.connect(lambda _=False, n=name: self.label(n))
                if key:
                    QShortcut(QKeySequence(key), self, activated=lambda n=name: self.label(n))
                self.class_grid.addWidget(button, i // 3, i % 3)
                self.class_buttons[name] = button
            self._show_next()
        elif kind == "refreshed":
            self._show_next() if self.current is None else self._show(self.current)
        elif kind == "scanned":
            n = len(self.session.labels)
            # handed on once the dialog is closed and its task's thread has ended (Try: finished)
            self.new_scan = (value, f"Training again with {n} new label{'s' * (n != 1)} from {self.folder} and "
                                    "the same settings.")

    def _stopped(self) -> None:
        self.busy.hide()
        self._update()
        if self.session is not None and self.current is None and self.new_scan is None:
            self._show_next()  # a refresh cancelled or failed: the labelling goes on
        if self.session is not None:  # its buttons were disabled meanwhile (Qt had moved the focus on to Close): the
            self._focus_guess()  # keys are the dialog's again, not a number field's
        if self.new_scan is not None:  # read again: closed once the task's thread has ended
            self.accept()

    # deciding --------------------------------------------------------------------------------
    def label(self, name: str) -> None:
        if self._ready():
            self.session.label(self.current, name)
            self._record(name)

    def take_guess(self) -> None:
        if self._ready():
            self.label(self.session.guess(self.current)[0])

    def skip(self) -> None:
        if self._ready():
            self.session.put_aside(self.current)
            self.decisions.append((self.current, ""))  # nothing recorded
            self._after()

    def none_of_these(self) -> None:
        if self._ready():
            self.session.put_aside(self.current)
            self._record(label_sheet.NONE_OF_THESE)

    def undo(self) -> None:
        if not self.decisions or self.task.is_running():
            return
        index, label = self.decisions.pop()
        self.session.unlabel(index)
        if label:
            label_sheet.add_labels(self.root, {str(self.session.paths[index]): label_sheet.UNLABELLED}, "undone")
        self.current = index
        self._show(index)

    def _record(self, label: str) -> None:
        label_sheet.add_labels(self.root, {str(self.session.paths[self.current]): label}, "new labels")
        self.decisions.append((self.current, label))
        self._after()

    def _after(self) -> None:
        if self.session.labels_since_refresh() >= self.every.value():
            self.refresh()
        else:
            self._show_next()

    def refresh(self) -> None:
        session = self.session
        self.current = None
        self.busy.begin("Refreshing the model with your labels")
        self.caption.setText("Refreshing the model with your labels…")
        self.task.start(lambda ctx: ("refreshed", session.refresh(ctx.cancel)))

    def train_again(self) -> None:
        if self.task.is_running():
            return
        self.busy.begin("Reading your folder again")
        self.task.start(read_again(self.root))

    # showing ---------------------------------------------------------------------------------
    def _ready(self) -> bool:
        return self.session is not None and self.current is not None and not self.task.is_running()

    def _show_next(self) -> None:
        following = self.session.next(1)
        self.current = following[0] if following else None
        self._show(self.current)

    def _show(self, index: int | None) -> None:
        from core.data.thumbnails import thumbnail
        for button in self.class_buttons.values():
            button.setStyleSheet("")
        if index is None:
            self.picture.clear()
            self.caption.setText("<b>Every image of the folder is labelled, skipped or set aside.</b>")
        else:
            path = self.session.paths[index]
            array = thumbnail(path, PICTURE)
            self.picture.setPixmap(fitted_pixmap(array, PICTURE)) if array is not None else self.picture.setText("?")
            guess, p = self.session.guess(index)
            self.class_buttons[guess].setStyleSheet("font-weight: bold")
            if not self.task.is_running():
                self.class_buttons[guess].setFocus()
            self.caption.setText(f"<b>{html.escape(path.name)}</b> ({html.escape(str(path.parent))})<br>The model's "
                                 f"guess: <b>{html.escape(guess)}</b>, {p:.0%} sure (Enter takes it).")
        self._update()

    def _focus_guess(self) -> None:
        """The focus ring on the model's guess: what Enter takes (on Skip, it suggested Enter skips)."""
        if self.current is not None:
            self.class_buttons[self.session.guess(self.current)[0]].setFocus()
        else:
            self.skip_button.setFocus()

    def _update(self) -> None:
        session = self.session
        ready = session is not None and self.current is not None and not self.task.is_running()
        for button in [*self.class_buttons.values(), self.skip_button, self.none_button]:
            button.setEnabled(ready)
        self.undo_button.setEnabled(bool(self.decisions) and not self.task.is_running())
        labelled = session is not None and bool(session.labels)
        self.train_button.setEnabled(labelled and not self.task.is_running())
        if session is None:
            self.counter.setText("")
            return
        steps = session.history
        trend = " → ".join(f"{s.accuracy:.1%}" + (f" ({s.labels})" if s.labels else " at the start")
                           for s in steps[-4:])
        self.counter.setText(f"<b>{len(session.labels)} labelled</b>, {len(session.remaining())} to go · held-out "
                             f"accuracy (the run's validation images; new labels so far in brackets): {trend}")

    def reject(self) -> None:
        if self.task.is_running():
            self.task.cancel()
            self.task.wait()
        super().reject()
