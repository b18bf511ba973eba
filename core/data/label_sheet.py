"""Labels that live beside the dataset folder, not in it: a label sheet.

Corrections (another class for an image, or leaving it out) are rows of a CSV file (path relative to the
dataset's root, label, source, time) kept in the per-user data folder under the dataset's root, never in the
folder itself. A scan (core.data.dataset.scan_dataset) reads the sheet of its root and applies it on top of the
folder: the last row of a path wins; the label ``EXCLUDED`` leaves the image out (it is listed among the skipped
files with the reason), any other label moves it to that class (a new class is added after the others). Training,
evaluation, the report and a resumed run all start from a scan, so they all see the same labels, and the run's
dataset record names the sheet and its hash. A scan can be given another sheet instead (``--labels SHEET``); a
resumed run continues on the labels it started with and refuses a sheet that has changed them since
(:func:`check_resumed_sheet`). New images labelled from a folder outside the dataset (:func:`add_labels`, the
window's "Label new images") are kept by their path relative to the root (``../new/x.png``) and join the training
images; ``NONE_OF_THESE`` records an image of no class (never trained on) and ``UNLABELLED`` takes a label back.
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
NONE_OF_THESE = "(none of these)"  # an image of none of the classes: recorded, never trained on
UNLABELLED = "(no label)"  # a new label taken back (Undo): the image is not added
NOT_A_CLASS = (EXCLUDED, NONE_OF_THESE, UNLABELLED)
COLUMNS = ("path", "label", "source", "time")
EXCLUDED_REASON = "left out in your label sheet"
NONE_REASON = "none of the classes, in your label sheet"
GONE_REASON = "labelled in your label sheet, but the file is gone"


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
        return _labels((path or sheet_path(root)).read_bytes(), path or sheet_path(root))
    except FileNotFoundError:
        return {}


def _labels(data: bytes, where: Path | str = "the label sheet") -> dict[str, str]:
    """The rows of a sheet's bytes, the last of each path kept (a row without a path or a label is no row). A file
    that is not a sheet (not UTF-8 CSV text, or without the columns path and label) is a TransferLabError."""
    labels: dict[str, str] = {}
    if not data.strip():
        return labels
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        if not {"path", "label"} <= set(reader.fieldnames or ()):
            raise TransferLabError(f"{where} is not a label sheet: its first line must name the columns "
                                   f"{','.join(COLUMNS)} (path and label at least)")
        for row in reader:
            if row.get("path") and row.get("label"):
                labels[row["path"].replace("\\", "/")] = row["label"]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TransferLabError(f"{where} is not a label sheet (a CSV file of path,label,source,time): {exc}") from exc
    return labels


def _inside(rows: dict[str, str], root: str | os.PathLike) -> dict[str, str]:
    """``rows`` with the absolute paths of images in ``root`` made relative to it, as the other rows are."""
    prefix = Path(root).as_posix().rstrip("/") + "/"
    return {key[len(prefix):] if key.startswith(prefix) else key: label for key, label in rows.items()}


def sheet_key(image: str | os.PathLike, root: str | os.PathLike) -> str:
    """How the sheet names ``image``: its path relative to ``root`` with /, ``../`` outside it, or the absolute path
    where there is no relative one (another drive on Windows)."""
    from core.data.items import split_key  # the run's split names images the same way, with the system's separator
    return Path(split_key(os.path.abspath(image), os.path.abspath(root))).as_posix()


def none_of_these(root: str | os.PathLike) -> list[Path]:
    """The images the root's sheet marks as of none of the classes (Label new images' "None of these") that are
    still there: what the model's "I don't know" should catch (app.widgets.unknown_panel scores them)."""
    rows = read_sheet(root)
    paths = [Path(os.path.normpath(Path(root) / key)) for key, label in sorted(rows.items()) if label == NONE_OF_THESE]
    return [p for p in paths if p.is_file()]


def add_labels(root: str | os.PathLike, labels: dict[str, str], source: str = "new labels") -> Path:
    """Append labels of new images ({path: class, NONE_OF_THESE or UNLABELLED}), which may lie outside ``root``:
    those are kept by their path relative to it (``../new/x.png``) and added to the training images by a scan."""
    return record(root, labels, source, outside=True)


def record(root: str | os.PathLike, changes: dict[str, str], source: str = "by hand", outside: bool = False) -> Path:
    """Append ``changes`` ({path: label or EXCLUDED}, paths absolute or relative to ``root``) to the root's sheet.
    A path outside ``root`` is refused unless ``outside`` (new images: :func:`add_labels`)."""
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
        if image.is_absolute() and root not in image.parents and not outside:
            raise TransferLabError(f"{image} is not in the dataset folder {root}")
        writer.writerow([sheet_key(image, root) if image.is_absolute() else image.as_posix(), label, source, stamp])

    def write(tmp: Path) -> None:
        tmp.write_text(old + out.getvalue(), encoding="utf-8")
    atomic_write(path, write)
    return path


def put_aside(root: str | os.PathLike) -> Path | None:
    """The root's sheet renamed to a dated backup beside it (nothing is deleted), so the folder's own labels hold
    again; the backup's path, or None without a sheet."""
    path = sheet_path(root)
    if not path.exists():
        return None
    backup = path.with_name(f"{path.stem}.set-aside-{time.strftime('%Y%m%d-%H%M%S')}.csv")
    path.rename(backup)
    return backup


def apply_sheet(scan, labels: Path | None = None):
    """``scan`` (a core.data.dataset.DatasetScan) with its root's label sheet applied; itself without a sheet.
    ``labels``: that sheet instead (a CSV in the same format, e.g. ``--labels SHEET``), which must exist; it is
    recorded in ``scan.label_sheet`` even when it changes nothing, so that a resumed run can check it."""
    path = Path(os.path.abspath(labels)) if labels is not None else sheet_path(scan.root)
    try:
        data = path.read_bytes()  # read once: its rows and its hash
    except FileNotFoundError:
        if labels is None:
            return scan
        raise TransferLabError(f"The label sheet {labels} does not exist") from None
    except OSError as exc:
        raise TransferLabError(f"Cannot read the label sheet {path}: {exc.strerror or exc}") from exc
    rows = _labels(data, path)
    if not rows and labels is None:
        return scan
    rows = _inside(rows, scan.root)
    from core.data.items import ImageItem, SkippedFile, relative
    classes = list(scan.classes)
    items, skipped, changed = {}, list(scan.skipped), 0
    for split, split_items in scan.items.items():
        kept = []
        for item in split_items:
            label = rows.get(Path(relative(item.path, scan.root)).as_posix())
            if label is None or label == classes[item.label]:
                kept.append(item)
                continue
            if label == UNLABELLED:
                kept.append(item)
                continue
            changed += 1
            if label in (EXCLUDED, NONE_OF_THESE):
                skipped.append(SkippedFile(item.path, EXCLUDED_REASON if label == EXCLUDED else NONE_REASON))
                continue
            if label not in classes:
                classes.append(label)
            kept.append(ImageItem(item.path, classes.index(label)))
        items[split] = kept
    added = _new_images(scan, rows, classes, items, skipped)
    skipped.sort(key=lambda s: str(s.path))
    digest = hashlib.sha256(data).hexdigest()
    return replace(scan, classes=classes, items=items, skipped=skipped, _groups=None,
                   label_sheet={"path": str(path), "sha256": digest, "changed": changed, "added": added})


def _new_images(scan, rows: dict[str, str], classes: list[str], items: dict, skipped: list) -> int:
    """Rows of images outside the dataset folder (``../new/x.png``, labelled with :func:`add_labels`) join its
    training images (in place: ``classes``, ``items``, ``skipped``); how many."""
    from core.data.items import ImageItem, SkippedFile
    split = "train" if "train" in items else next(iter(items))
    added = 0
    for rel, label in sorted(rows.items()):
        if not (rel.startswith("../") or Path(rel).is_absolute()) or label in NOT_A_CLASS:
            continue
        image = Path(os.path.normpath(scan.root / rel))
        if not image.is_file():
            skipped.append(SkippedFile(image, GONE_REASON))
            continue
        if label not in classes:
            classes.append(label)
        items[split].append(ImageItem(image, classes.index(label)))
        added += 1
    return added


def check_resumed_sheet(record: dict) -> str | None:
    """Before a run resumes (``record``: its run.json, core.training.runs): it continues on the labels it started
    with (run.json keeps each image's label), so a label sheet changed since is said, never silently mixed in.
    The sheet it started with (its dataset record's ``label_sheet``; else the root's own sheet, which it did not
    have then) is read again: when it now gives any of the run's images another label or leaves one out, a
    TransferLabError says the labels changed and to start a new run; when it changed without touching them
    (labels for other images), a note to show is returned; None when it is as it was."""
    root = Path(record.get("dataset_root") or (record.get("dataset") or {}).get("root", ""))
    started = (record.get("dataset") or {}).get("label_sheet") or {}
    path = Path(started["path"]) if started.get("path") else sheet_path(root)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not started:
            return None
        raise TransferLabError(f"The label sheet this run started with, {path}, is gone, so its labels may have "
                               "changed since. Start a new run to train on the labels as they are now.") from None
    except OSError as exc:
        raise TransferLabError(f"Cannot read the label sheet {path}: {exc.strerror or exc}") from exc
    if hashlib.sha256(data).hexdigest() == started.get("sha256"):
        return None
    rows, classes = _inside(_labels(data, path), root), record.get("classes") or []
    rows = {rel: label for rel, label in rows.items() if label != UNLABELLED}  # a label taken back: no row
    if not started and not rows:
        return None  # an empty sheet made since: no labels, nothing changed
    changed = [rel for part in (record.get("split") or {}).values() for rel, label in part
               if rows.get(str(rel).replace("\\", "/"), classes[int(label)]) != classes[int(label)]]
    if changed:
        raise TransferLabError(f"The labels changed since this run started: the label sheet {path} now gives "
                               f"{len(changed)} of its images another class or leaves them out (e.g. {changed[0]}). "
                               "A resumed run would go on learning the old labels; start a new run on the folder "
                               "instead to train on the new ones.")
    return (f"The label sheet {path} changed since this run started, but not for any of its images; the run "
            "continues on the same labels.")
