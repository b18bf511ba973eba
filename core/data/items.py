"""What a scanned dataset is made of: its two layouts, an image with its label, a skipped file, and a
path shown relative to the dataset folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

FLAT, PRE_SPLIT = "flat", "pre-split"  # one folder per class / train/ and val/ (and test/) folders


@dataclass(frozen=True)
class ImageItem:
    path: Path
    label: int  # index into DatasetScan.classes


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str


def split_key(path, root: Path) -> str:
    """How a run's run.json names an image of its split: relative to the dataset root (``../new/x.png`` outside
    it), or absolute where there is no relative path (another drive on Windows)."""
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return os.path.abspath(path)


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else as it is."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
