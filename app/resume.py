"""Resuming an interrupted training run from the window: offer it, rescan its dataset, continue on
the Train page where its last checkpoint left off (core.methods.resume.resume_run)."""

from pathlib import Path

from PySide6.QtCore import QObject

from app.widgets.resume_bar import ResumeBar
from core.training import runs

DATA, TRAIN = 0, 4


def _auto_of(record: dict) -> dict | None:
    """The run's Auto description, if a model of it was saved (a resumable run is one trained by hand: None)."""
    return runs.model_description(record["run_dir"]).get("auto") or record.get("auto")


class ResumeController(QObject):
    def __init__(self, window, bar: ResumeBar) -> None:
        super().__init__(window)
        self.window, self.bar = window, bar
        self.pending: dict | None = None
        bar.resumeRequested.connect(self.resume)
        bar.discardRequested.connect(self.discard)
        window.pages[DATA].task.stopped.connect(self._scan_done)
        window.pages[TRAIN].completeChanged.connect(self._training_started)

    def offer(self) -> None:
        """Show the newest interrupted run, if any (reads a few small files; no torch)."""
        found = runs.interrupted_runs()
        self.bar.offer(found[0] if found else None, len(found) - 1 if found else 0)

    def _training_started(self) -> None:
        """Training began on the Train page (its Resume, Start training, an opened run's Resume): the offer goes, so
        that its buttons cannot act on a run that is training or has finished (a walkthrough's finding)."""
        if self.window.pages[TRAIN].task.is_running():
            self.bar.hide()

    def _gone(self, record: dict) -> str | None:
        """Why the offered run can no longer be resumed or discarded (None: it still can)."""
        train = self.window.pages[TRAIN]
        if train.task.is_running() and str(train.run_dir) == record["run_dir"]:
            return "That run has been resumed already: it is training on the Train page."
        if runs.resumable(Path(record["run_dir"])) is None:
            return "That run has been resumed already, or has finished: there is nothing left to resume."
        return None

    def _refuse(self, record: dict) -> bool:
        """Hide the offer and say why, when its run is training or finished (nothing else changes)."""
        why = self._gone(record)
        if why is not None:
            self.bar.hide()
            self.window.pages[self.window.current_index].banner.show_message(why, "info")
        return why is not None

    def resume(self, record: dict) -> None:
        """Scan the run's dataset again; the Train page continues the run once the scan is done."""
        data_page = self.window.pages[DATA]
        if self._refuse(record):
            return
        if data_page.task.is_running() or self.window.pages[TRAIN].task.is_running():
            self.window.pages[self.window.current_index].banner.show_message(
                "Wait for the running work to finish (or cancel it), then press Resume again.", "info")
            return
        self.pending = record
        self.window.state.take_run_settings(record["settings"], _auto_of(record))  # as Open a run… does
        self.window.show_page(DATA)
        self.bar.message("Reading the dataset of the interrupted run…")
        data_page.scan_folder(record["dataset_root"])

    def _scan_done(self) -> None:
        record, self.pending = self.pending, None
        if record is None:
            return
        if not self.window.pages[DATA].is_complete():
            self.bar.message("The dataset of the interrupted run cannot be read (see the message below); "
                             "it cannot be resumed.")
            return
        self.bar.hide()
        self.window.reached = max(self.window.reached, TRAIN)
        self.window.show_page(TRAIN)
        self.window.pages[TRAIN].resume_training(record["run_dir"], record.get("history", []))

    def discard(self, record: dict) -> None:
        if self._refuse(record):
            return
        runs.set_status(record["run_dir"], runs.DISCARDED)
        self.offer()
