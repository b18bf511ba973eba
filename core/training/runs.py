"""Run folders: what a run is (``run.json``), whether a process is training it, and which runs were
interrupted (the process was killed or the computer switched off) and can be resumed.

``run.json`` is written when training starts: settings, dataset folder, class names and the exact
train/validation split, so a resumed run continues on the very same images. ``status`` is
``running`` while training, then ``finished``, ``cancelled`` or ``failed``; a run left ``running``
that no process holds the lock of was interrupted. Nothing here imports torch.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from core.base.atomic import atomic_write_json
from core.base.errors import TransferLabError
from core.data.items import split_key

RUN_FILE = "run.json"
LOCK_FILE = ".training.lock"
CHECKPOINT_FILE = "checkpoint.pt"
RUNNING, FINISHED, CANCELLED, FAILED, DISCARDED = "running", "finished", "cancelled", "failed", "discarded"
PAUSED = "paused"  # the app quit during training: offered for resuming at the next start, like a crash


def now_utc() -> str:
    """This moment as run records and bundles write it (UTC, to the second)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_record(run_dir: Path, record: dict) -> None:
    atomic_write_json(Path(run_dir) / RUN_FILE, {**record, "updated": now_utc()})


def read_record(run_dir: Path) -> dict:
    path = Path(run_dir) / RUN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TransferLabError(f"{run_dir} is not a TransferLab run folder (no {RUN_FILE})") from exc
    except (OSError, ValueError) as exc:
        raise TransferLabError(f"Cannot read {path}: {exc}") from exc


def set_status(run_dir: Path, status: str, message: str = "") -> None:
    try:
        record = read_record(run_dir)
    except TransferLabError:
        return
    record.update(status=status, message=message)
    write_record(run_dir, record)


class RunLock:
    """Held while a process trains in the folder; the operating system drops it when the process dies."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._file = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a+b")
        try:
            _lock(self._file)
        except OSError:
            self._file.close()
            self._file = None
            return False
        return True

    def release(self) -> None:
        if self._file is not None:
            try:
                _unlock(self._file)
            finally:
                self._file.close()
                self._file = None

    def __enter__(self) -> RunLock:
        if not self.acquire():
            raise TransferLabError(f"Another TransferLab process is training in {self.path.parent}")
        return self

    def __exit__(self, *exc) -> None:
        self.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(f) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(f) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(f) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(f) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def is_training_elsewhere(run_dir: Path) -> bool:
    lock = RunLock(run_dir)
    if not lock.path.exists():
        return False
    if lock.acquire():
        lock.release()
        return False
    return True


def checkpoint_epoch(run_dir: Path) -> int | None:
    """The last completed epoch recorded next to the checkpoint (run.json), or None without a checkpoint."""
    if not (Path(run_dir) / CHECKPOINT_FILE).is_file():
        return None
    try:
        return int(read_record(run_dir).get("checkpoint_epoch") or 0) or None
    except TransferLabError:
        return None


def interrupted_runs(runs_dir: Path | None = None) -> list[dict]:
    """Runs that were training when their process died and have a checkpoint to resume from, newest first.
    Each: the run record plus ``run_dir``."""
    if runs_dir is None:
        from core.base.paths import data_dir
        runs_dir = data_dir() / "runs"
    found = []
    if not Path(runs_dir).is_dir():
        return found
    for run_dir in Path(runs_dir).iterdir():
        try:
            record = read_record(run_dir)
        except TransferLabError:
            continue
        if record.get("status") in (RUNNING, PAUSED) and resumable(run_dir):
            found.append({**record, "run_dir": str(run_dir)})
    return sorted(found, key=lambda r: r.get("updated", ""), reverse=True)


def resumable(run_dir: Path) -> dict | None:
    """The run record (with ``run_dir``) when the run stopped before its planned last epoch and can
    continue from its checkpoint: interrupted, paused by Quit, cancelled or failed. None otherwise."""
    try:
        record = read_record(Path(run_dir))
    except TransferLabError:
        return None
    epoch, status = checkpoint_epoch(run_dir), record.get("status")
    if status in (FINISHED, DISCARDED) or not epoch or is_training_elsewhere(run_dir):
        return None
    if epoch >= int(record.get("settings", {}).get("epochs") or 0) and status not in (RUNNING, PAUSED):
        return None  # every epoch done (a run that died while saving still gets its model written)
    return {**record, "run_dir": str(run_dir)}


def pause(run_dir: Path) -> bool:
    """Mark a run stopped by Quit as one to offer at the next start (True when it can be resumed)."""
    if resumable(run_dir) is None:
        return False
    set_status(run_dir, PAUSED, "stopped when TransferLab was closed")
    _saved_model_stopped_by_closing(Path(run_dir))
    return True


def _saved_model_stopped_by_closing(run_dir: Path) -> None:
    """The model Cancel saved on the way out says it was saved by closing TransferLab, not by Cancel (Results, the
    report and the Train page read its "stopped"; the weights' hash does not cover this description)."""
    from core.evaluation.result_words import CLOSED
    meta = model_description(run_dir)
    if isinstance(meta.get("stopped"), dict):
        meta["stopped"]["reason"] = CLOSED
        atomic_write_json(run_dir / MODEL_DESCRIPTION, meta)


def rng_state() -> dict:
    """Every random generator training draws from, in a form ``torch.load(weights_only=True)`` reads."""
    import random

    import numpy as np
    import torch
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                   cached], "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    import random

    import numpy as np
    import torch
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def relative_items(items, root: Path) -> list[list]:
    return [[split_key(i.path, root), i.label] for i in items]


MODEL_DESCRIPTION = "transferlab.json"  # core.models.bundle.META_FILE (read here without loading torch)


def model_description(run_dir: str | Path) -> dict:
    """The run's saved model description, {} where there is none or it cannot be read (no torch)."""
    try:
        value = json.loads((Path(run_dir) / MODEL_DESCRIPTION).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def when_words(stamp: str) -> str:
    """A record's UTC time as this computer's local time: "today 14:05" or "2 Dec 14:05"."""
    try:
        moment = datetime.fromisoformat(stamp).astimezone()
    except (TypeError, ValueError):
        return stamp
    day = "today" if moment.date() == datetime.now().astimezone().date() else f"{moment.day} {moment.strftime('%b')}"
    return f"{day} {moment.strftime('%H:%M')}"


def summaries(runs_dir: Path | None = None) -> list[dict]:
    """Every run folder under ``runs_dir`` (the app's own by default), newest first, as a line a user can
    choose from: run_dir, when, model, images (the dataset folder), status, epochs done and planned,
    best validation accuracy (None without a model). Reads two small JSON files per run; no torch."""
    if runs_dir is None:
        from core.base.paths import data_dir
        runs_dir = data_dir() / "runs"
    found = []
    for run_dir in sorted(Path(runs_dir).iterdir()) if Path(runs_dir).is_dir() else []:
        try:
            record = read_record(run_dir)
        except TransferLabError:
            continue
        meta = model_description(run_dir)
        settings = record.get("settings", {})
        root = Path(record.get("dataset_root", ""))
        status = record.get("status", "")
        if status in (RUNNING, PAUSED) and not is_training_elsewhere(run_dir):
            status = "interrupted"
        found.append({"run_dir": str(run_dir), "updated": record.get("updated", ""),
                      "when": when_words(str(record.get("updated", ""))), "model": settings.get("model_name", ""),
                      "images": f"{root.parent.name}/{root.name}" if root.parent.name else root.name,
                      "status": status, "epochs": len(record.get("history") or []), "of": settings.get("epochs"),
                      "val_accuracy": meta.get("metrics", {}).get("val_accuracy") if meta else None})
    return sorted(found, key=lambda r: (r["updated"], Path(r["run_dir"]).name), reverse=True)  # names: start times
