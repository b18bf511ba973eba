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
* **Very few images**: classes with fewer than ``FEW_IMAGES`` (see there) are named, with what that
  means for their validation score.
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
# A class with fewer images than this is pointed out. With the default 20% held out (core.data.dataset.make_split)
# a class of 2 to 7 images is scored on a single validation image; under 5 the model also learns it from 4
# pictures or fewer. 5 flags the classes that are clearly too small without flagging a modest but usable set.
FEW_IMAGES = 5

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
    items = scan.all_items()
    infos = [scan.info[i.path] for i in items if i.path in scan.info]
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
        "not_described": len(items) - len(infos),  # images labelled from outside the folder: not probed by the scan
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
        "few_images": {c: n for c, n in train_counts.items() if 0 < n < FEW_IMAGES},
        "few_validation_images": {c: n for c, n in scan.split_counts().get("val", {}).items() if 0 < n < FEW_IMAGES}
        if scan.layout == PRE_SPLIT else None,
        "no_validation_images": [],  # classes the split holds no image of out (core.data.dataset: it splits)
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


def copies_words(classes: list[str] | tuple[str, ...]) -> str:
    """Where the copies of one picture are, most first: '3 copies in grass, 1 in brick'."""
    where = sorted(Counter(classes).items(), key=lambda kv: (-kv[1], kv[0]))
    (first, n), rest = where[0], where[1:]
    return ", ".join([f"{n} cop{'y' if n == 1 else 'ies'} in {first}"] + [f"{k} in {c}" for c, k in rest])


def _listed(groups: list[dict], most: int = 3) -> str:
    return "; ".join(copies_words(d["classes"]) for d in groups[:most]) + ("; …" if len(groups) > most else "")


def duplicate_sentences(dups: list[dict]) -> list[str]:
    """The duplicate groups of :func:`health_report` counted as a user sees them: pictures, and where
    their copies are (the Data step and the duplicates window)."""
    conflicts = [d for d in dups if d["cross_class"]]
    within = [d for d in dups if not d["cross_class"]]
    out = []
    if conflicts:
        n = len(conflicts)
        out.append(f"{n} picture{'s appear' if n != 1 else ' appears'} under different classes ({_listed(conflicts)}): "
                   f"{'in each, a label is wrong' if n != 1 else 'one of its labels is wrong'}; check which.")
    if within:
        n, other = len(within), " other" if conflicts else ""
        out.append(f"{n}{other} picture{'s are' if n != 1 else ' is'} copied within "
                   f"{'their' if n != 1 else 'its'} class ({_listed(within)}).")
    n, exact = len(dups), sum(d["exact"] for d in dups)
    if exact == n:
        out.append("The copies are exact (the same file)." if n == 1 else "All of them are exact copies (the same file).")
    elif exact == 0:
        out.append(f"{'The' if n == 1 else 'All the'} copies are near-identical (re-saved, resized or lightly "
                   "cropped), not the same file.")
    else:
        out.append(f"Of these {n} pictures, {exact} {'has' if exact == 1 else 'have'} exact copies (the same file), "
                   f"{n - exact} near-identical ones (re-saved, resized or lightly cropped).")
    return out


def few_images_lines(report: dict) -> list[str]:
    """Classes with fewer than ``FEW_IMAGES`` images, and what that does to their validation score.
    ``few_validation_images`` is None where TransferLab makes the split, else the validation folder's."""
    lines = []
    few, few_val = report.get("few_images") or {}, report.get("few_validation_images")
    unscored = report.get("no_validation_images") or []
    few = {c: n for c, n in few.items() if c not in unscored and n >= 2}  # 1 image: a problem the scan names
    by_size = lambda d: sorted(d.items(), key=lambda kv: (kv[1], kv[0]))  # noqa: E731
    if unscored:
        one = len(unscored) == 1
        whose, named = "its pictures are" if one else "the pictures of each are", "', '".join(unscored)
        lines.append(f"No validation image for '{named}': {whose} copies of one another "
                     "(or of another class's), and copies stay together on the training side, so the model's accuracy "
                     f"on {'this class' if one else 'these classes'} is not measured. Add different pictures, or "
                     "remove the copies.")
    if few:
        named = ", ".join(f"'{c}' has {n}" for c, n in by_size(few))
        them = "it" if len(few) == 1 else "them"
        if few_val is None:
            lines.append(f"Very few images: {named}. With the default 20% held out for validation, "
                         f"{'this class is' if len(few) == 1 else 'each of these classes is'} scored on a single "
                         "image, so its validation accuracy is 0% or 100% by the luck of that one picture, and the "
                         f"model learns {them} from a handful of examples. Add images (20 or more per class) for a "
                         "score you can trust.")
        else:
            lines.append(f"Very few training images: {named}. The model learns {them} from a handful of examples; "
                         "add images (20 or more per class) if you can.")
    if few_val:
        named = ", ".join(f"'{c}' on {n}" for c, n in by_size(few_val))
        lines.append(f"Validation scores some classes on very few images ({named}): each of those images moves its "
                     "class's validation accuracy by 25% or more, so that score says little.")
    return lines


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
    if report["duplicates"]:
        lines.append(" ".join(duplicate_sentences(report["duplicates"])))
        if report["kept_together_in_split"]:
            lines.append("The copies of each picture are kept on one side of the train/validation split, so "
                         "validation never scores a picture the model trained on.")
    if counts["skipped"]:
        lines.append("Skipped files: " + ", ".join(f"{n} {kind}" for kind, n in counts["skipped"].items()) + ".")
    if report["left_out_of_validation"]:
        lines.append(f"{len(report['left_out_of_validation'])} validation/test image(s) duplicate training images "
                     "and are left out of validation: " + ", ".join(report["left_out_of_validation"][:5]) +
                     (" …" if len(report["left_out_of_validation"]) > 5 else ""))
    lines += few_images_lines(report)
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
        outside = s.get("not_described", 0)  # (a walkthrough read "RGB 194" under "205 images")
        lines.append(f"Images: {size}; colours: {modes}; bit depth: {depths}; formats: {formats}"
                     + (f" (the {outside} labelled from outside the folder are not counted here)." if outside else "."))
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
