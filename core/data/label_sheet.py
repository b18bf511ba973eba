"""Labels that live beside the dataset folder, not in it: a label sheet.

Corrections (another class for an image, or leaving it out) are rows of a CSV file (path relative to the
dataset's root, label, source, time) kept in the per-user data folder under the dataset's root, never in the
folder itself. A scan (core.data.dataset.scan_dataset) reads the sheet of its root and applies it on top of the
folder: the last row of a path wins; the label ``EXCLUDED`` leaves the image out (it is listed among the skipped
files with the reason), any other label moves it to that class (a new class is added after the others). Training,
evaluation, the report and a resumed run all start from a scan, so they all see the same labels, and the run's
dataset record names the sheet and its hash.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import time
from dataclasses import replace
from pathlib import Path

from core.base.errors import TransferLabError

EXCLUDED = "(excluded)"
COLUMNS = ("path", "label", "source", "time")
EXCLUDED_REASON = "left out in your label sheet"


def sheet_path(root: str | os.PathLike, create: bool = False) -> Path:
    """Where the label sheet of the dataset at ``root`` is kept (the folder is made only with ``create``)."""
    from core.base.paths import data_dir
    key = hashlib.sha256(str(Path(os.path.abspath(root))).encode("utf-8")).hexdigest()[:16]
    folder = data_dir(create) / "labels"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{Path(root).name or 'root'}-{key}.csv"


def read_sheet(root: str | os.PathLike, path: Path | None = None) -> dict[str, str]:
    """{path relative to the root (with /): label}, the last row of each path; {} without a sheet. ``path``: a
    sheet elsewhere (one to import), read the same way."""
    try:
        return _labels((path or sheet_path(root)).read_bytes())
    except FileNotFoundError:
        return {}


def _labels(data: bytes) -> dict[str, str]:
    """The rows of a sheet's bytes, the last of each path kept (a row without a path or a label is no row)."""
    labels: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        if row.get("path") and row.get("label"):
            labels[row["path"].replace("\\", "/")] = row["label"]
    return labels


def record(root: str | os.PathLike, changes: dict[str, str], source: str = "by hand") -> Path:
    """Append ``changes`` ({path: label or EXCLUDED}, paths absolute or relative to ``root``) to the root's sheet."""
    from core.base.atomic import atomic_write
    root = Path(os.path.abspath(root))
    path = sheet_path(root, create=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if not old:
        writer.writerow(COLUMNS)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for image, label in changes.items():
        image = Path(image)
        if image.is_absolute() and root not in image.parents:
            raise TransferLabError(f"{image} is not in the dataset folder {root}")
        relative = image.relative_to(root) if image.is_absolute() else image
        writer.writerow([relative.as_posix(), label, source, stamp])

    def write(tmp: Path) -> None:
        tmp.write_text(old + out.getvalue(), encoding="utf-8")
    atomic_write(path, write)
    return path


def apply_sheet(scan):
    """``scan`` (a core.data.dataset.DatasetScan) with its root's label sheet applied; itself without a sheet."""
    path = sheet_path(scan.root)
    try:
        data = path.read_bytes()  # read once: its rows and its hash
    except FileNotFoundError:
        return scan
    labels = _labels(data)
    if not labels:
        return scan
    from core.data.items import ImageItem, SkippedFile, relative
    classes = list(scan.classes)
    items, skipped, changed = {}, list(scan.skipped), 0
    for split, split_items in scan.items.items():
        kept = []
        for item in split_items:
            label = labels.get(Path(relative(item.path, scan.root)).as_posix())
            if label is None or label == classes[item.label]:
                kept.append(item)
                continue
            changed += 1
            if label == EXCLUDED:
                skipped.append(SkippedFile(item.path, EXCLUDED_REASON))
                continue
            if label not in classes:
                classes.append(label)
            kept.append(ImageItem(item.path, classes.index(label)))
        items[split] = kept
    skipped.sort(key=lambda s: str(s.path))
    digest = hashlib.sha256(data).hexdigest()
    return replace(scan, classes=classes, items=items, skipped=skipped, _groups=None,
                   label_sheet={"path": str(path), "sha256": digest, "changed": changed})
