"""Images of none of the classes as a class of their own (the Results page's "Use as an extra class"): the
dataset as scanned, plus every readable image of another folder under a new class name. The images are read
where they are: nothing is copied into the dataset folder, and neither folder is written to. A run records
them by their path relative to the dataset folder (``../other/x.png``), so it resumes like any other."""

from __future__ import annotations

import os
import random
from dataclasses import replace
from pathlib import Path

from core.base.cancel import CancelToken
from core.base.errors import DatasetError
from core.base.progress import Progress
from core.data.dataset import DatasetScan
from core.data.items import FLAT, ImageItem, SkippedFile
from core.data.walk import probe_all, walk_files

EXTRA_CLASS_NAME = "none of these"
VAL_SHARE = 0.2  # of the extra images, in a pre-split dataset's val/ split (its other classes come split already)


def with_extra_class(scan: DatasetScan, folder: str | os.PathLike, name: str = EXTRA_CLASS_NAME,
                     progress: Progress | None = None, cancel: CancelToken | None = None,
                     seed: int = 0) -> DatasetScan:
    """``scan`` with one more class, ``name``, made of the images of ``folder`` (recursively). A pre-split
    dataset gets VAL_SHARE of them in its val/ split (seeded), so the class is measured too."""
    folder = Path(os.path.abspath(os.path.expanduser(os.fspath(folder))))
    name = name.strip()
    if not name:
        raise DatasetError("The extra class needs a name")
    if name.casefold() in {c.casefold() for c in scan.classes}:
        raise DatasetError(f"The dataset already has a class named “{name}”; choose another name")
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    if folder == scan.root or scan.root in folder.parents or folder in scan.root.parents:
        raise DatasetError(f"{folder} overlaps the dataset folder {scan.root}; choose a folder outside it")
    skipped: list[SkippedFile] = []
    paths = walk_files(folder, skipped, cancel)
    probed = probe_all(paths, progress, cancel)
    readable = [(p, info) for p, (reason, info) in zip(paths, probed) if reason is None]
    skipped += [SkippedFile(p, reason) for p, (reason, _) in zip(paths, probed) if reason is not None]
    if not readable:
        raise DatasetError(f"No readable images in {folder}")
    label = len(scan.classes)
    new = [ImageItem(p, label) for p, _ in readable]
    items = {split: list(part) for split, part in scan.items.items()}
    if scan.layout == FLAT:
        items["all"] += new
    else:
        random.Random(seed).shuffle(new)
        held = round(VAL_SHARE * len(new)) if len(new) > 1 else 0
        items["val"] += new[:held]
        items["train"] += new[held:]
    for split in items:
        items[split].sort(key=lambda i: str(i.path))
    return replace(scan, classes=[*scan.classes, name], items=items,
                   skipped=sorted([*scan.skipped, *skipped], key=lambda s: str(s.path)),
                   info={**scan.info, **dict(readable)}, _groups=None)
