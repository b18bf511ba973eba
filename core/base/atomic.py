"""Write files so that a crash or a full disk never leaves a half-written file behind."""

import json
import os
import tempfile
from pathlib import Path
from typing import Callable

_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give; mkstemp's 0600 would hide saved models from other users


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX; Windows files inherit the folder's permissions
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return Path(tmp_name)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)``, fsync, then rename over ``path``. The old file survives any failure."""
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8"))


def atomic_write_all(writers: dict[Path, Callable[[Path], None]]) -> None:
    """Write every file to a temporary name and sync it; only when all succeeded, rename each over its
    target. A full disk or a read-only folder therefore leaves every old file as it was."""
    temps: dict[Path, Path] = {}
    try:
        for path, write in writers.items():
            path = Path(path)
            temps[path] = _temp_beside(path)
            write(temps[path])
            with open(temps[path], "rb+") as f:
                os.fsync(f.fileno())
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise
    for path, tmp in temps.items():
        os.replace(tmp, path)
