"""Dataset health: duplicates and leakage, class imbalance, and what kinds of images there are.

* **Exact duplicates**: files with the same bytes (content hash).
* **Near duplicates**: pictures whose 64-bit difference hashes differ in at most ``CANDIDATE_BITS``
  bits and whose 16x16 grey thumbnails differ by at most ``NEAR_DUPLICATE_MAD`` grey levels on
  average — re-encoded, resized or lightly cropped copies (a brightness change beyond ~3% is not one).
  Both are reported within a class and across classes (the same picture labelled twice).
  When TransferLab splits the data, each group of (near) duplicates stays on one side, so
  validation never scores a picture the model trained on; in a folder that is already split,
  validation images with a duplicate in train/ are left out of validation, and the report says so.
* **Imbalance**: largest / smallest class in the training images; from ``IMBALANCE_RATIO`` on, the
  loss weights each class by the inverse of its share (on by default, can be switched off).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from core.data.images import ImageInfo
from core.data.items import FLAT, PRE_SPLIT, ImageItem, relative


class ScannedFolder(Protocol):
    """What health reads of a core.data.dataset.DatasetScan (which calls into this module)."""
    root: Path
    layout: str
    classes: list[str]
    items: dict[str, list[ImageItem]]
    info: dict[Path, ImageInfo]

    def all_items(self) -> list[ImageItem]: ...
    def class_counts(self) -> dict[str, int]: ...
    def split_counts(self) -> dict[str, dict[str, int]]: ...
    def duplicate_groups(self) -> list[DuplicateGroup]: ...

CANDIDATE_BITS = 6  # difference hashes at most this many bits apart (of 64) are compared further
NEAR_DUPLICATE_MAD = 4.0  # mean absolute difference of the 16x16 grey thumbnails, 0-255
IMBALANCE_RATIO = 3.0

MODE_WORDS = {  # Pillow's colour modes, in plain words (the code in brackets)
    "RGB": "colour (RGB)", "RGBA": "colour with transparency (RGBA)", "L": "greyscale (L)",
    "LA": "greyscale with transparency (LA)", "P": "colour from a palette (P)", "PA": "palette with transparency (PA)",
    "CMYK": "printing colours (CMYK)", "1": "black and white (1-bit)", "I;16": "16-bit greyscale (I;16)",
    "I": "32-bit greyscale (I)", "F": "floating-point greyscale (F)", "YCbCr": "colour (YCbCr)", "LAB": "colour (Lab)",
    "HSV": "colour (HSV)"}


@dataclass(frozen=True)
class DuplicateGroup:
    paths: tuple[Path, ...]
    classes: tuple[str, ...]  # the class of each path
    exact: bool  # all byte-identical

    @property
    def cross_class(self) -> bool:
        return len(set(self.classes)) > 1


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(-1)


def _join_near(hashes: np.ndarray, thumbs: np.ndarray, uf: _UnionFind) -> None:
    """Join pictures whose hashes differ in at most ``CANDIDATE_BITS`` bits *and* whose 16x16 grey
    thumbnails differ by at most ``NEAR_DUPLICATE_MAD`` on average (the hash alone confuses flat images).

    Pigeonhole: cut the 64 bits into ``CANDIDATE_BITS + 1`` bands; hashes that close agree exactly on at
    least one band, so only hashes sharing a band's value are compared. A picture already joined to an
    earlier one is not compared again (its group's first picture stands for it)."""
    bands = CANDIDATE_BITS + 1
    width = -(-64 // bands)
    values = hashes.tolist()
    for b in range(bands):
        lo, hi = b * width, min(64, (b + 1) * width)
        buckets: dict[int, list[int]] = {}
        for i, h in enumerate(values):
            buckets.setdefault((h >> (64 - hi)) & ((1 << (hi - lo)) - 1), []).append(i)
        for members in buckets.values():
            for j in range(len(members) - 1):
                a = members[j]
                if uf.find(a) != a:
                    continue
                rest = np.array(members[j + 1:])
                rest = rest[_popcount(np.bitwise_xor(hashes[rest], hashes[a])) <= CANDIDATE_BITS]
                if len(rest):
                    close = np.abs(thumbs[rest] - thumbs[a]).mean(axis=1) <= NEAR_DUPLICATE_MAD
                    for r in rest[close]:
                        uf.union(a, int(r))


def duplicate_groups(scan: ScannedFolder) -> list[DuplicateGroup]:
    """Groups of two or more usable images that are exact or near duplicates of each other."""
    items = sorted(scan.all_items(), key=lambda i: str(i.path))
    infos = [scan.info.get(i.path) for i in items]
    keep = [k for k, info in enumerate(infos) if info is not None]
    if len(keep) < 2:
        return []
    uf = _UnionFind(len(items))
    by_content: dict[str, int] = {}
    for k in keep:
        first = by_content.setdefault(infos[k].content_hash, k)
        if first != k:
            uf.union(first, k)
    distinct = sorted(set(by_content.values()))  # one image per content
    hashes = np.array([infos[k].dhash for k in distinct], dtype=np.uint64)
    thumbs = np.stack([np.frombuffer(infos[k].thumb or bytes(256), dtype=np.uint8) for k in distinct]).astype(np.int16)
    near = _UnionFind(len(distinct))
    _join_near(hashes, thumbs, near)
    for i, k in enumerate(distinct):
        uf.union(distinct[near.find(i)], k)
    members: dict[int, list[int]] = {}
    for k in keep:
        members.setdefault(uf.find(k), []).append(k)
    groups = []
    for ks in members.values():
        if len(ks) < 2:
            continue
        exact = len({infos[k].content_hash for k in ks}) == 1
        groups.append(DuplicateGroup(tuple(items[k].path for k in ks),
                                     tuple(scan.classes[items[k].label] for k in ks), exact))
    return sorted(groups, key=lambda g: str(g.paths[0]))


def leaking_items(scan: ScannedFolder) -> set[Path]:
    """In a folder already split: val/test images with an (near) duplicate among the train/ images."""
    if scan.layout != PRE_SPLIT:
        return set()
    train = {i.path for i in scan.items.get("train", [])}
    leaks: set[Path] = set()
    for group in scan.duplicate_groups():
        if any(p in train for p in group.paths):
            leaks.update(p for p in group.paths if p not in train)
    return leaks


def imbalance(counts: dict[str, int]) -> tuple[float, str, str]:
    """(largest / smallest, largest class, smallest class) over classes with images."""
    present = {c: n for c, n in counts.items() if n > 0}
    if len(present) < 2:
        return 1.0, "", ""
    largest = max(present, key=present.get)
    smallest = min(present, key=present.get)
    return present[largest] / present[smallest], largest, smallest


def class_weights(counts: list[int]) -> list[float]:
    """Inverse-frequency weights, mean 1 over the images: n / (k * n_c)."""
    total, k = sum(counts), sum(1 for n in counts if n > 0)
    return [total / (k * n) if n else 0.0 for n in counts]


def image_summary(scan: ScannedFolder) -> dict:
    """Sizes, colour modes, bit depths and formats of the usable images."""
    infos = [scan.info[i.path] for i in scan.all_items() if i.path in scan.info]
    if not infos:
        return {}
    widths, heights = [i.width for i in infos], [i.height for i in infos]
    modes = Counter(i.mode for i in infos)
    depths = Counter(i.bit_depth for i in infos)
    formats = Counter(i.format or "?" for i in infos)
    return {
        "width": {"min": min(widths), "median": statistics.median(widths), "max": max(widths)},
        "height": {"min": min(heights), "median": statistics.median(heights), "max": max(heights)},
        "distinct_sizes": len({(i.width, i.height) for i in infos}),
        "modes": dict(modes.most_common()),
        "bit_depths": {str(k): v for k, v in sorted(depths.items())},
        "formats": dict(formats.most_common()),
    }


def nested_classes(scan: ScannedFolder) -> dict[str, list[str]]:
    """Class folders whose images all sit in two or more subfolders of their own: likely a folder of
    splits (train/, heldout/) or of groups, chosen one level too high. Class -> those subfolders."""
    if scan.layout != FLAT:
        return {}
    subfolders: dict[str, set[str]] = {c: set() for c in scan.classes}
    direct = set()
    for item in scan.all_items():
        name = scan.classes[item.label]
        parts = Path(relative(item.path, scan.root / name)).parts
        if len(parts) > 1:
            subfolders[name].add(parts[0])
        else:
            direct.add(name)
    return {c: sorted(subs) for c, subs in subfolders.items() if len(subs) >= 2 and c not in direct}


def health_report(scan: ScannedFolder) -> dict:
    """Everything above as plain data (JSON-ready; paths relative to the dataset root)."""
    groups = scan.duplicate_groups()
    train_counts = scan.class_counts() if scan.layout == FLAT else scan.split_counts().get("train", {})
    ratio, largest, smallest = imbalance(train_counts)
    leaks = sorted(leaking_items(scan))
    rel = lambda p: relative(p, scan.root)  # noqa: E731
    return {
        "duplicates": [{"paths": [rel(p) for p in g.paths], "classes": list(g.classes), "exact": g.exact,
                        "cross_class": g.cross_class} for g in groups],
        "exact_duplicate_groups": sum(g.exact for g in groups),
        "near_duplicate_groups": sum(not g.exact for g in groups),
        "cross_class_groups": sum(g.cross_class for g in groups),
        "kept_together_in_split": scan.layout == FLAT and bool(groups),
        "left_out_of_validation": [rel(p) for p in leaks],
        "imbalance": {"ratio": round(ratio, 2), "largest": largest, "smallest": smallest,
                      "weighted_loss_by_default": ratio >= IMBALANCE_RATIO},
        "images": image_summary(scan),
        "nested_classes": nested_classes(scan),
    }


def skipped_by_reason(skipped: list[dict]) -> dict[str, int]:
    """How many files were skipped for each kind of reason (the reason up to its details), most first."""
    kinds = Counter(str(s["reason"]).split(":")[0].split(" (")[0].strip() for s in skipped)
    return dict(kinds.most_common())


def finding_counts(report: dict, skipped: list[dict] | None = None) -> dict:
    """The counts a user acts on first: conflicting labels, duplicates within a class, skipped files."""
    dups = report["duplicates"]
    return {"cross_class_groups": sum(d["cross_class"] for d in dups),
            "within_class_groups": sum(not d["cross_class"] for d in dups),
            "skipped": skipped_by_reason(skipped or [])}


def conflict_lines(report: dict) -> list[str]:
    """Each group of the same picture under different classes, one sentence each (CLI)."""
    return [f"Same picture in different classes: {', '.join(f'{p} ({c})' for p, c in zip(d['paths'], d['classes']))}."
            for d in report["duplicates"] if d["cross_class"]]


def health_lines(report: dict, skipped: list[dict] | None = None) -> list[str]:
    """The report in plain sentences (CLI and GUI), counts first; the groups themselves are listed by
    :func:`conflict_lines` (CLI) or shown as pictures (the Data page's duplicates window)."""
    lines = []
    nested = report.get("nested_classes") or {}
    if nested:
        names = list(nested)
        inside = sorted({sub for subs in nested.values() for sub in subs})
        lines.append(f"The class folder{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in names)} "
                     f"hold{'' if len(names) > 1 else 's'} folders of {'their' if len(names) > 1 else 'its'} own "
                     f"({', '.join(repr(n) for n in inside[:5])}{' …' if len(inside) > 5 else ''}): if these are "
                     "parts of one dataset (say train/ and test/), choose the folder holding your class folders "
                     "instead, or name the parts train/ and val/ so that TransferLab uses them as such.")
    counts = finding_counts(report, skipped)
    dups = report["duplicates"]
    if dups:
        conflicts, within = counts["cross_class_groups"], counts["within_class_groups"]
        exact = report["exact_duplicate_groups"]
        lines.append(f"{conflicts} group{'s' if conflicts != 1 else ''} of the same picture under different classes "
                     f"(a label is wrong in each: check which), {within} group{'s' if within != 1 else ''} of "
                     f"duplicates within a class; of these {len(dups)} group{'s' if len(dups) != 1 else ''}, "
                     f"{exact} {'is an exact copy' if exact == 1 else 'are exact copies'} "
                     f"and {report['near_duplicate_groups']} near-identical.")
        if report["kept_together_in_split"]:
            lines.append("Each group is kept on one side of the train/validation split, so validation never "
                         "scores a picture the model trained on.")
    if counts["skipped"]:
        lines.append("Skipped files: " + ", ".join(f"{n} {kind}" for kind, n in counts["skipped"].items()) + ".")
    if report["left_out_of_validation"]:
        lines.append(f"{len(report['left_out_of_validation'])} validation/test image(s) duplicate training images "
                     "and are left out of validation: " + ", ".join(report["left_out_of_validation"][:5]) +
                     (" …" if len(report["left_out_of_validation"]) > 5 else ""))
    im = report["imbalance"]
    if im["largest"] and im["ratio"] == 1:
        lines.append("Classes are balanced (the same number of images each).")
    elif im["largest"] and im["ratio"] < 1.5:
        lines.append(f"Classes are balanced (the largest has {im['ratio']:g}x the images of the smallest).")
    elif im["largest"]:
        note = (f"; the loss weights classes to compensate (on by default from {IMBALANCE_RATIO:g}:1)"
                if im["weighted_loss_by_default"] else "")
        lines.append(f"Class balance: '{im['largest']}' has {im['ratio']:g}x the images of '{im['smallest']}'{note}.")
    s = report["images"]
    if s:
        size = (f"{s['width']['min']}x{s['height']['min']} to {s['width']['max']}x{s['height']['max']} pixels"
                if s["distinct_sizes"] > 1 else f"all {s['width']['min']}x{s['height']['min']} pixels")
        modes = ", ".join(f"{MODE_WORDS.get(m, m)} {n}" for m, n in s["modes"].items())
        depths = ", ".join(f"{d}-bit {n}" for d, n in s["bit_depths"].items())
        formats = ", ".join(f"{f} {n}" for f, n in s["formats"].items())
        lines.append(f"Images: {size}; colours: {modes}; bit depth: {depths}; formats: {formats}.")
    return lines


def group_of(groups: list[DuplicateGroup]) -> dict[Path, int]:
    """path -> index of its duplicate group."""
    return {p: g for g, group in enumerate(groups) for p in group.paths}


def units_for_split(items: list[ImageItem], groups: list[DuplicateGroup]) -> list[list[ImageItem]]:
    """The images in units that must stay together: a duplicate group, or a single image."""
    where = group_of(groups)
    units: dict[object, list[ImageItem]] = {}
    for item in sorted(items, key=lambda i: str(i.path)):
        units.setdefault(("group", where[item.path]) if item.path in where else ("one", item.path), []).append(item)
    return list(units.values())
