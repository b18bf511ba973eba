"""Scanning a dataset folder (one subfolder per class) and splitting it. The folder is only ever read."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from core.base.cancel import CancelToken, check
from core.base.errors import DatasetError
from core.base.progress import Progress
from core.data.health import DuplicateGroup, duplicate_groups, health_report, leaking_items, units_for_split
from core.data.images import ImageInfo
from core.data.items import FLAT, PRE_SPLIT, ImageItem, SkippedFile, relative
from core.data.walk import file_problem, is_real_dir, list_dir, probe_all, walk_files

VAL_NAMES = ("val", "valid", "validation")  # in order of preference
NOT_IN_CLASS = "not inside a class folder"
EMPTY_FOLDER = "empty folder (nothing in it, so not a class)"


@dataclass
class DatasetScan:
    root: Path
    layout: str  # "flat" or "pre-split"
    classes: list[str]
    items: dict[str, list[ImageItem]]  # flat: {"all"}; pre-split: {"train", "val", "test"}
    skipped: list[SkippedFile]
    extra_classes: dict[str, list[str]] = field(default_factory=dict)  # pre-split: split -> not in train
    split_folders: dict[str, str] = field(default_factory=dict)  # pre-split: split -> actual folder name
    info: dict[Path, ImageInfo] = field(default_factory=dict)  # per usable image: size, mode, hashes
    label_sheet: dict | None = None  # {path, sha256, changed}: the label sheet applied (core.data.label_sheet)
    _groups: list | None = field(default=None, repr=False, compare=False)

    def duplicate_groups(self) -> list[DuplicateGroup]:
        """Exact and near duplicates among the usable images (core.data.health), computed once."""
        if self._groups is None:
            self._groups = duplicate_groups(self)
        return self._groups

    def health(self) -> dict:
        """core.data.health's report, with the classes of 2 or more images that the split (default fraction and
        seed) holds none of out for validation: their pictures are copies kept together on the training side (a
        walkthrough saw a class of 2 get no validation image while the report said it was scored on one)."""
        report = health_report(self)
        if self.layout == FLAT and report["duplicates"]:
            held_out = {self.classes[i.label] for i in make_split(self).val}
            report["no_validation_images"] = [c for c, n in self.class_counts().items()
                                              if n >= 2 and c not in held_out]
        return report

    def all_items(self) -> list[ImageItem]:
        return [item for items in self.items.values() for item in items]

    def class_counts(self) -> dict[str, int]:
        """Usable images per class, over all splits, in class order."""
        counts = dict.fromkeys(self.classes, 0)
        for item in self.all_items():
            counts[self.classes[item.label]] += 1
        return counts

    def split_counts(self) -> dict[str, dict[str, int]]:
        """split -> class -> usable images."""
        out = {}
        for split, items in self.items.items():
            counts = dict.fromkeys(self.classes, 0)
            for item in items:
                counts[self.classes[item.label]] += 1
            out[split] = counts
        return out

    def problems(self) -> list[str]:
        """Human-readable reasons the dataset cannot be trained on; empty when trainable."""
        if not self.classes and not self.skipped:
            return [f"The folder {self.root} is empty; put one subfolder per class in it, "
                    "each holding that class's images"]
        problems = []
        counts = self.class_counts() if self.layout == FLAT else self.split_counts()["train"]
        usable = [c for c in self.classes if counts[c] > 0]
        if len(usable) < 2:
            names = ", ".join(f"'{c}'" for c in usable)
            found = f"Found {len(usable)} usable class{'' if len(usable) == 1 else 'es'}"
            where = self.root if self.layout == FLAT else self.root / self._folder("train")
            problems.append(f"{found}{f' ({names})' if names else ''}; at least 2 are needed, "
                            f"each in its own subfolder of {where}")
        if self.layout == FLAT:
            problems += [f"Class '{c}' has {_images(counts[c])}; at least 2 are needed"
                         for c in self.classes if counts[c] < 2]
        else:
            problems += self._pre_split_problems()
        return problems

    def _pre_split_problems(self) -> list[str]:
        problems = []
        per_split = self.split_counts()
        train, val = self._folder("train"), self._folder("val")
        for c in self.classes:
            n_train, n_val = per_split["train"][c], per_split["val"][c]
            if n_train == 0:
                problems.append(f"Class '{c}' has no usable images in {train}/; at least 1 is needed there")
            elif n_train > 0 and n_train + n_val < 2:
                problems.append(f"Class '{c}' has {_images(n_train + n_val)} in {train}/ and {val}/ "
                                "together; at least 2 are needed")
        if self.classes and not self.items["val"]:
            problems.append(f"The validation folder {val}/ has no usable images")
        for split, names in self.extra_classes.items():
            if names:
                listed = ", ".join(f"'{n}'" for n in names)
                problems.append(f"Class{'es' if len(names) > 1 else ''} {listed} in {self._folder(split)}/ "
                                f"{'are' if len(names) > 1 else 'is'} not in {train}/; every class needs "
                                "training images (add them to train/ or remove the folder)")
        return problems

    def require_trainable(self) -> None:
        problems = self.problems()
        if problems:
            raise DatasetError("; ".join(problems))

    def summary(self) -> dict:
        """A JSON-serialisable description (paths relative to the root where possible)."""
        items = self.all_items()
        return {
            "root": str(self.root),
            "layout": self.layout,
            "classes": list(self.classes),
            "counts": self.class_counts(),
            "counts_per_split": self.split_counts(),
            "num_images": len(items),
            "skipped": [{"path": relative(s.path, self.root), "reason": s.reason} for s in self.skipped],
            "extra_classes": {k: list(v) for k, v in self.extra_classes.items() if v},
            "split_folders": dict(self.split_folders),
            "problems": self.problems(),
            "health": self.health(),
            **({"label_sheet": dict(self.label_sheet)} if self.label_sheet else {}),
        }

    def _folder(self, split: str) -> str:
        return self.split_folders.get(split, split)


@dataclass
class Split:
    train: list[ImageItem]
    val: list[ImageItem]
    test: list[ImageItem] = field(default_factory=list)


def scan_dataset(root: str | os.PathLike, progress: Progress | None = None,
                 cancel: CancelToken | None = None, labels: str | os.PathLike | None = None) -> DatasetScan:
    """List and verify every image under ``root`` (see module doc); never writes anything. ``labels``: a label
    sheet to apply instead of the root's own (core.data.label_sheet.apply_sheet)."""
    root = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
    entries = list_dir(root, top=True)
    dirs = {e.name: e for e in entries if is_real_dir(e)}
    lower = {name.casefold(): name for name in sorted(dirs)}
    skipped: list[SkippedFile] = []
    val_name = next((lower[n] for n in VAL_NAMES if n in lower), None)

    if "train" in lower and val_name is not None:
        layout = PRE_SPLIT
        folders = {"train": lower["train"], "val": val_name}
        if "test" in lower:
            folders["test"] = lower["test"]
        used = set(folders.values())
        for entry in entries:
            if entry.name in dirs and entry.name not in used:
                why = ("another validation folder is already used" if entry.name.casefold() in VAL_NAMES
                       else "not a train, validation or test folder")
                skipped.append(SkippedFile(root / entry.name, f"folder ignored: {why}"))
            elif entry.name not in dirs:
                skipped.append(SkippedFile(root / entry.name, file_problem(entry) or NOT_IN_CLASS))
        split_roots = {split: root / name for split, name in folders.items()}
    else:
        layout, folders, split_roots = FLAT, {}, {"all": root}

    # Pass 1: list candidate files per split and class.
    found: dict[str, dict[str, list[Path]]] = {}
    for split, split_root in split_roots.items():
        check(cancel)
        top = entries if split_root == root else list_dir(split_root, top=False, skipped=skipped)
        found[split] = _collect_classes(split_root, top, skipped, cancel)

    # Pass 2: probe every candidate.
    candidates = [(split, cls, p) for split, classes in found.items()
                  for cls, paths in classes.items() for p in paths]
    probed = probe_all([p for _, _, p in candidates], progress, cancel)

    base = "train" if layout == PRE_SPLIT else "all"
    classes = sorted(found[base], key=lambda c: (c.casefold(), c))
    exact = {c: i for i, c in enumerate(classes)}
    folded = {c.casefold(): i for i, c in reversed(list(enumerate(classes)))}  # val/test may differ in case
    label_of = lambda name: exact.get(name, folded.get(name.casefold()))  # noqa: E731
    splits = ["train", "val", "test"] if layout == PRE_SPLIT else ["all"]
    items: dict[str, list[ImageItem]] = {split: [] for split in splits}
    extra = {split: sorted((c for c in found[split] if label_of(c) is None), key=lambda c: (c.casefold(), c))
             for split in found if split != base}
    info: dict[Path, ImageInfo] = {}
    for (split, cls, path), (reason, found) in zip(candidates, probed):
        if reason is not None:
            skipped.append(SkippedFile(path, reason))
        elif label_of(cls) is not None:
            items[split].append(ImageItem(path, label_of(cls)))
            info[path] = found
    for split in items:
        items[split].sort(key=lambda i: str(i.path))
    skipped.sort(key=lambda s: str(s.path))
    from core.data.label_sheet import apply_sheet  # corrections kept beside the folder, never in it
    return apply_sheet(DatasetScan(root, layout, classes, items, skipped, extra, folders, info),
                       Path(labels) if labels is not None else None)


def make_split(scan: DatasetScan, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """Train/val(/test) split: the folders as they are when pre-split, else stratified and seeded."""
    try:
        fraction = float(val_fraction)
    except (TypeError, ValueError):
        fraction = float("nan")
    if not 0 < fraction <= 0.9:  # NaN fails too
        raise DatasetError(f"The validation fraction must be more than 0 and at most 0.9 (got {val_fraction})")
    if scan.layout == PRE_SPLIT:
        leaks = leaking_items(scan)  # duplicates of training images would inflate validation accuracy
        return Split(list(scan.items["train"]), [i for i in scan.items["val"] if i.path not in leaks],
                     [i for i in scan.items.get("test", []) if i.path not in leaks])
    rng = random.Random(seed)
    by_class: dict[int, list[list[ImageItem]]] = {}
    for unit in units_for_split(scan.all_items(), scan.duplicate_groups()):
        by_class.setdefault(unit[0].label, []).append(unit)
    train: list[ImageItem] = []
    val: list[ImageItem] = []
    for label in sorted(by_class):
        units = by_class[label]  # single images, or duplicate groups that must stay together
        rng.shuffle(units)
        n = sum(len(u) for u in units)
        n_val = min(max(round(n * fraction), 1), n - 1) if n >= 2 else 0
        taken = 0
        for k, unit in enumerate(units):
            fits = taken + len(unit) <= n_val and k < len(units) - 1  # always keep one unit for training
            (val if fits else train).extend(unit)
            taken += len(unit) if fits else 0
    key = lambda i: (i.label, str(i.path))  # noqa: E731
    return Split(sorted(train, key=key), sorted(val, key=key), [])


def skipped_words(reasons: list[str]) -> str:
    """'3 files skipped', or '2 files and 1 empty folder skipped' (an empty folder is no file), from the skipped
    entries' reasons (a scan's SkippedFile.reason, or a run's recorded summary's "reason")."""
    folders = sum(r == EMPTY_FOLDER for r in reasons)
    files = len(reasons) - folders
    parts = [f"{files} file{'s' * (files != 1)}"] * (files > 0 or not folders)
    return " and ".join(parts + [f"{folders} empty folder{'s' * (folders != 1)}"] * (folders > 0)) + " skipped"


def _images(n: int) -> str:
    if n == 0:
        return "no usable images"
    return f"only {n} usable image{'' if n == 1 else 's'}"


def _collect_classes(split_root: Path, top: list[os.DirEntry], skipped: list[SkippedFile],
                     cancel: CancelToken | None) -> dict[str, list[Path]]:
    """class name -> candidate image files (recursive); files at this level are skipped."""
    classes: dict[str, list[Path]] = {}
    for entry in top:
        path = Path(entry.path)
        if is_real_dir(entry):
            before = len(skipped)
            files = walk_files(path, skipped, cancel)
            if files or len(skipped) > before:
                classes[entry.name] = files
            else:  # nothing in it at all: not a class that blocks the folder (a walkthrough's empty subfolder did)
                skipped.append(SkippedFile(path, EMPTY_FOLDER))
        else:
            reason = file_problem(entry)
            skipped.append(SkippedFile(path, reason or NOT_IN_CLASS))
    return classes
