"""A corrected copy of a dataset, for use outside TransferLab: a new folder-per-class folder with the label sheet
(core.data.label_sheet) applied. Every usable image of the scan is copied byte for byte (never linked or moved)
into the folder of its class as the scan has it: a relabelled image into its new class's folder, an image left out
in the sheet not at all; a pre-split dataset keeps its train/, val/ and test/ folders (under their own names).
Images from nested folders of a class land in the class folder itself; a name taken there already gets a suffix
(``cat.jpg``, ``cat (2).jpg``), an image that kept its class keeping its own name first.

The destination must be outside the dataset folder, and absent or empty. A cancelled or failed copy removes what it
wrote, so the destination is left as it was (absent, or empty); the dataset folder is only ever read.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from core.base.cancel import CancelToken, check
from core.base.errors import TransferLabError
from core.base.progress import Progress, report
from core.data.items import PRE_SPLIT
from core.data.label_sheet import EXCLUDED_REASON


@dataclass
class CopyReport:
    dest: str
    images: int  # copied
    relabelled: int  # copied into another class's folder than their own
    added: int  # images from outside the dataset folder that the label sheet adds (new labels)
    excluded: int  # left out in the label sheet, not copied
    renamed: int  # given a suffix: their name was taken in their class folder
    bytes: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split folder ("" when flat) -> class -> images

    def to_dict(self) -> dict:
        return dict(vars(self))


def export_corrected_copy(scan, dest: str | os.PathLike, progress: Progress | None = None,
                          cancel: CancelToken | None = None) -> CopyReport:
    """Copy ``scan`` (a core.data.dataset.DatasetScan, its label sheet applied) to ``dest`` as described above."""
    dest = check_destination(scan.root, dest)
    plan, relabelled, added, renamed = _plan(scan, dest)
    written: list[Path] = []
    folders = [p for p in reversed([dest, *dest.parents]) if not p.exists()]  # made here, parents first
    size = 0
    try:
        for folder in folders:
            folder.mkdir()
        for done, (source, target) in enumerate(plan):
            check(cancel)
            for folder in reversed([target.parent, *target.parent.parents]):
                if dest in folder.parents and not folder.is_dir():
                    folder.mkdir()
                    folders.append(folder)
            written.append(target)
            shutil.copyfile(source, target)  # the bytes only: a link is followed, never copied as a link
            shutil.copystat(source, target)  # and its times, as a file manager's copy keeps them
            size += target.stat().st_size
            report(progress, done + 1, len(plan), "Copying the images")
    except BaseException:
        _remove(written, folders)
        raise
    counts: dict[str, dict[str, int]] = {}
    for _, target in plan:
        split = target.parent.parent.name if scan.layout == PRE_SPLIT else ""
        counts.setdefault(split, {}).setdefault(target.parent.name, 0)
        counts[split][target.parent.name] += 1
    excluded = sum(s.reason == EXCLUDED_REASON for s in scan.skipped)
    return CopyReport(str(dest), len(plan), relabelled, added, excluded, renamed, size, counts)


def check_destination(root: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """``dest`` (resolved) when a corrected copy of the dataset at ``root`` may go there: outside it, and a new or
    empty folder; else a TransferLabError that says why (cheap: a caller checks before it scans)."""
    root, dest = Path(os.path.realpath(root)), Path(os.path.realpath(os.path.expanduser(os.fspath(dest))))
    if dest == root or root in dest.parents:
        raise TransferLabError(f"The corrected copy must go outside the dataset folder {root} (which is never "
                               f"written to); choose another destination than {dest}")
    if dest.exists() and not dest.is_dir():
        raise TransferLabError(f"{dest} is a file; choose a new or empty folder for the corrected copy")
    if dest.is_dir() and any(dest.iterdir()):
        raise TransferLabError(f"{dest} is not empty; choose a new or empty folder for the corrected copy (nothing "
                               "is overwritten)")
    return dest


def _plan(scan, dest: Path) -> tuple[list[tuple[Path, Path]], int, int, int]:
    """[(source, target)] of every usable image; how many change class, come from outside, get a suffix."""
    plan: list[tuple[Path, Path]] = []
    relabelled = added = renamed = 0
    for split, items in scan.items.items():
        base = dest / scan.split_folders.get(split, split) if scan.layout == PRE_SPLIT else dest
        below = scan.root / scan.split_folders.get(split, split) if scan.layout == PRE_SPLIT else scan.root
        folder_of = {}  # the class folder an image is in, "" for one from outside (a new label in the sheet)
        for item in items:
            parts = item.path.relative_to(below).parts if below in item.path.parents else ()
            folder_of[item.path] = parts[0].casefold() if len(parts) > 1 else ""
        stays = lambda i: folder_of[i.path] == scan.classes[i.label].casefold()  # noqa: E731
        taken: dict[str, set[str]] = {}
        for item in sorted(items, key=lambda i: (not stays(i), str(i.path))):  # those that stay keep their names
            name = scan.classes[item.label]
            target = _free(item.path.name, taken.setdefault(name, set()))
            renamed += target != item.path.name
            added += folder_of[item.path] == ""
            relabelled += not stays(item) and folder_of[item.path] != ""
            plan.append((item.path, base / _folder_name(name) / target))
    return plan, relabelled, added, renamed


def _free(name: str, used: set[str]) -> str:
    """``name``, or ``stem (2).ext`` and so on when taken (compared as a case-insensitive file system would)."""
    stem, suffix = os.path.splitext(name)
    candidate, k = name, 1
    while candidate.casefold() in used:
        k += 1
        candidate = f"{stem} ({k}){suffix}"
    used.add(candidate.casefold())
    return candidate


def _folder_name(label: str) -> str:
    """A class name as a folder name (a name from the sheet could hold a path separator)."""
    cleaned = label.replace("/", "_").replace("\\", "_").strip()
    if cleaned in ("", ".", ".."):
        raise TransferLabError(f"The class name {label!r} cannot be a folder name; rename it in the label sheet")
    return cleaned


def _remove(files: list[Path], folders: list[Path]) -> None:
    """Undo a copy: the files and the folders it made (the destination too, when it made it), deepest first."""
    for path in reversed(files):
        path.unlink(missing_ok=True)
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            pass
