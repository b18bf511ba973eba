"""Resuming an interrupted training run from the window: offer it, rescan its dataset, continue on
the Train page where its last checkpoint left off (core.methods.resume.resume_run)."""

import json
from pathlib import Path

from PySide6.QtCore import QObject

from app.widgets.resume_bar import ResumeBar
from core.training import runs

DATA, TRAIN = 0, 4


def _auto_of(record: dict) -> dict | None:
    """The run's Auto description, if a model of it was saved (a resumable run is one trained by hand: None)."""
    try:
        meta = json.loads((Path(record["run_dir"]) / runs.MODEL_DESCRIPTION).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return record.get("auto")
    return meta.get("auto") or record.get("auto")


class ResumeController(QObject):
    def __init__(self, window, bar: ResumeBar) -> None:
        super().__init__(window)
        self.window, self.bar = window, bar
        self.pending: dict | None = None
        bar.resumeRequested.connect(self.resume)
        bar.discardRequested.connect(self.discard)
        window.pages[DATA].task.stopped.connect(self._scan_done)

    def offer(self) -> None:
        """Show the newest interrupted run, if any (reads a few small files; no torch)."""
        found = runs.interrupted_runs()
        self.bar.offer(found[0] if found else None, len(found) - 1 if found else 0)

    def resume(self, record: dict) -> None:
        """Scan the run's dataset again; the Train page continues the run once the scan is done."""
        data_page = self.window.pages[DATA]
        if data_page.task.is_running() or self.window.pages[TRAIN].task.is_running():
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
        runs.set_status(record["run_dir"], runs.DISCARDED)
        self.offer()
