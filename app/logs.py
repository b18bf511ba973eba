"""Where the app writes its logs, and how: cheap (no Qt, no torch), safe to call before anything prints.

Files in the log folder (``platformdirs.user_log_dir``, or the ``TRANSFERLAB_LOG_DIR`` variable):

* ``transferlab.log`` — Python ``logging`` (INFO and up), rotating at 1 MB, 3 old files kept;
  unhandled exceptions land here with their traceback (see :mod:`app.crash`).
* ``faults.log`` — :mod:`faulthandler`'s tracebacks of hard crashes (segfault, abort). A separate file:
  its descriptor stays open for the whole run, which on Windows would stop the log from rotating.
* ``console.log`` — what is printed (tqdm, torch warnings) when there is no console, i.e. in the
  windowed app where ``sys.stdout`` / ``sys.stderr`` are None.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import TextIO

LOG_ENV = "TRANSFERLAB_LOG_DIR"
LOG_NAME = "transferlab.log"
FAULTS_NAME = "faults.log"
CONSOLE_NAME = "console.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"

_fault_file: TextIO | None = None  # kept open: faulthandler writes to its descriptor when the process dies


def log_dir() -> Path:
    """The per-user log folder (created if missing)."""
    override = os.environ.get(LOG_ENV)
    if override:
        path = Path(override)
    else:
        import platformdirs
        path = Path(platformdirs.user_log_dir("TransferLab", "TransferLab"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_file() -> Path:
    return log_dir() / LOG_NAME


def _open_capped(path: Path) -> TextIO:
    """Open ``path`` for appending; a file already over MAX_BYTES is moved to ``<name>.1`` first."""
    if path.is_file() and path.stat().st_size > MAX_BYTES:
        path.replace(path.with_name(path.name + ".1"))
    return open(path, "a", encoding="utf-8", errors="replace", buffering=1)


def ensure_std_streams() -> Path | None:
    """Give ``sys.stdout`` / ``sys.stderr`` a file when they are None (windowed app, no console).

    Returns the file used, or None when both streams already exist. Call it before anything prints."""
    if sys.stdout is not None and sys.stderr is not None:
        return None
    path = log_dir() / CONSOLE_NAME
    stream = _open_capped(path)
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream
    return path


def _remove_handlers() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "transferlab", False)]:
        root.removeHandler(handler)
        handler.close()


def setup_logging(level: int = logging.INFO) -> Path:
    """Rotating log file for the root logger, Python warnings into it, faulthandler on. Idempotent."""
    global _fault_file
    path = log_file()
    _remove_handlers()
    root = logging.getLogger()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                   encoding="utf-8", delay=True)
    handler.transferlab = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    old, _fault_file = _fault_file, _open_capped(path.with_name(FAULTS_NAME))
    faulthandler.enable(file=_fault_file, all_threads=True)
    if old is not None:
        old.close()
    return path


def stop_logging() -> None:
    """Undo :func:`setup_logging` (tests): handler removed, faulthandler back on the real stderr."""
    global _fault_file
    _remove_handlers()
    logging.captureWarnings(False)
    if sys.__stderr__ is not None:
        faulthandler.enable(file=sys.__stderr__, all_threads=True)
    else:
        faulthandler.disable()
    if _fault_file is not None:
        _fault_file.close()
        _fault_file = None
