"""Walking a folder for image files, as every part of TransferLab does it (the dataset scan, the
unlabelled target images of domain adaptation, predict on folders): hidden and junk entries ignored,
folder links not followed, each file's problem put in words, images probed in parallel. Only reads."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.base.cancel import CancelToken, check
from core.base.errors import DatasetError, ImageLoadError
from core.base.progress import Progress
from core.data.images import IMAGE_EXTENSIONS, ImageInfo, probe_image
from core.data.items import SkippedFile

JUNK_FILES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db"})
JUNK_DIRS = frozenset({"__macosx", "$recycle.bin", "system volume information", "@eadir"})
MIN_IMAGE_SIDE = 16  # pixels; smaller images (icons, 1x1 tracking pixels) carry nothing to learn from
PROBE_THREADS = min(8, os.cpu_count() or 1)


# -- listing ----------------------------------------------------------------------------------------

def list_dir(path: Path, top: bool, skipped: list[SkippedFile] | None = None) -> list[os.DirEntry]:
    """Visible, non-junk entries of ``path``; at the top a failure is a DatasetError, below it is skipped."""
    try:
        with os.scandir(path) as it:
            return sorted((e for e in it if not ignored(e)), key=lambda e: e.name)
    except OSError as e:
        if top:
            raise DatasetError(folder_error(path, e)) from e
        if skipped is not None:
            skipped.append(SkippedFile(path, f"cannot read folder: {os_reason(e)}"))
        return []


def folder_error(path: Path, e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return f"The dataset folder {path} does not exist"
    if isinstance(e, NotADirectoryError):
        return f"{path} is a file, not a folder; choose the folder that holds one subfolder per class"
    return f"Cannot read the dataset folder {path}: {os_reason(e)}"


def os_reason(e: OSError) -> str:
    return "permission denied" if isinstance(e, PermissionError) else (e.strerror or str(e))


def ignored(entry: os.DirEntry) -> bool:
    name = entry.name.casefold()
    return name.startswith(".") or name in JUNK_FILES or name in JUNK_DIRS


def is_real_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def walk_files(folder: Path, skipped: list[SkippedFile], cancel: CancelToken | None = None) -> list[Path]:
    """Image-type files under ``folder``, recursively, without following folder links."""
    files: list[Path] = []
    stack = [folder]
    while stack:
        check(cancel)
        current = stack.pop()
        for entry in list_dir(current, top=False, skipped=skipped):
            path = Path(entry.path)
            if is_real_dir(entry):
                stack.append(path)
                continue
            reason = file_problem(entry)
            if reason is not None:
                skipped.append(SkippedFile(path, reason))
            elif path.suffix.lower() in IMAGE_EXTENSIONS:
                files.append(path)
            else:
                kind = f"'{path.suffix.lower()}'" if path.suffix else "(no extension)"
                skipped.append(SkippedFile(path, f"not a supported image type {kind}"))
    return sorted(files)


def file_problem(entry: os.DirEntry) -> str | None:
    """Why a non-directory entry cannot be a file to read, or None if it is a regular file (or link to one)."""
    try:
        mode = os.stat(entry.path).st_mode  # follows file links
    except FileNotFoundError:
        return "broken link (its target does not exist)" if entry.is_symlink() else "file vanished"
    except OSError as e:
        return f"cannot read file: {os_reason(e)}"
    if stat.S_ISDIR(mode):
        return "link to a folder (not followed)"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def probe_all(paths: list[Path], progress: Progress | None,
               cancel: CancelToken | None) -> list[tuple[str | None, ImageInfo | None]]:
    """Probe each file (in parallel): (failure reason, None) or (None, what the probe found)."""
    total = len(paths)
    if progress:
        progress(0, total, "Checking images")
    reasons: list[tuple[str | None, ImageInfo | None]] = []
    if not paths:
        return reasons
    pool = ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="probe")
    try:
        for done, reason in enumerate(pool.map(lambda p: probe_reason(p, cancel), paths), 1):
            check(cancel)
            reasons.append(reason)
            if progress:
                progress(done, total, "Checking images")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return reasons


def probe_reason(path: Path, cancel: CancelToken | None) -> tuple[str | None, ImageInfo | None]:
    if cancel is not None and cancel.cancelled:
        return None, None  # the consumer raises Cancelled; skip the work
    try:
        info = probe_image(path)
    except ImageLoadError as e:
        return str(e), None
    if min(info.width, info.height) < MIN_IMAGE_SIDE:
        return (f"image too small ({info.width}x{info.height} pixels; at least {MIN_IMAGE_SIDE} on each side "
                "are needed)"), None
    return None, info
