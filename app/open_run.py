"""Opening a finished run folder (trained here, in a comparison, or on a cluster): read its dataset
again, then show its curves, results and Try page."""

from pathlib import Path

from PySide6.QtCore import QObject

DATA = 0


class RunOpener(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.pending: tuple[Path, list[str]] | None = None
        window.pages[DATA].task.stopped.connect(self._scan_done)

    def open(self, run_dir: str, dataset: str | None = None) -> str | None:
        """Start opening ``run_dir``; returns a message when it cannot be opened. ``dataset`` overrides the
        folder the run was trained on (e.g. when it was trained on another computer)."""
        from core.base.errors import TransferLabError
        from core.models.bundle import META_FILE, read_meta
        from core.training import runs
        data_page = self.window.pages[DATA]
        if data_page.task.is_running() or any(p.is_busy() for p in self.window.pages):
            return "Wait for the running work to finish (or cancel it) first."
        unfinished = runs.resumable(Path(run_dir))
        if unfinished is not None:  # stopped before its planned end: offer to continue it
            self.window.resumer.bar.offer(unfinished)
            if not (Path(run_dir) / META_FILE).is_file():
                return None  # no model yet: the offer above is all there is to do
        try:
            meta = read_meta(Path(run_dir))
        except TransferLabError as exc:
            return str(exc)
        root = dataset or meta.get("dataset", {}).get("root")
        if not root or not Path(root).is_dir():
            return (f"The images this run was trained on are not at {root} on this computer. Choose where they "
                    "are, or open the run with the folder of its images.")
        self.pending = (Path(run_dir), list(meta["classes"]))
        self.window.show_page(DATA)
        data_page.scan_folder(str(root))
        return None

    def _scan_done(self) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            return
        run_dir, classes = pending
        state, data_page = self.window.state, self.window.pages[DATA]
        if not data_page.is_complete() or state.scan is None:
            return  # the Data page says why
        if list(state.scan.classes) != classes:
            data_page.banner.show_message(f"This folder's classes ({', '.join(state.scan.classes)}) are not the "
                                          f"run's ({', '.join(classes)}); choose the folder the run was trained on.")
            return
        self.window.open_run(str(run_dir))
