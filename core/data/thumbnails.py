"""Small previews of images, as numpy arrays (the GUI turns them into pixmaps)."""

from pathlib import Path

import numpy as np
from PIL import Image

from core.base.cancel import CancelToken, check
from core.base.errors import ImageLoadError
from core.data.dataset import DatasetScan
from core.data.images import load_rgb


def thumbnail(path: Path, size: int = 72) -> np.ndarray | None:
    """An RGB uint8 array at most ``size`` pixels on its long side, or None if unreadable."""
    try:
        image = load_rgb(path)
    except ImageLoadError:
        return None
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def class_examples(scan: DatasetScan, per_class: int = 3, size: int = 72,
                   cancel: CancelToken | None = None) -> dict[str, list[np.ndarray]]:
    """A few thumbnails per class (the first files by name)."""
    out: dict[str, list[np.ndarray]] = {name: [] for name in scan.classes}
    by_class: dict[int, list[Path]] = {}
    for item in sorted(scan.all_items(), key=lambda i: str(i.path)):
        by_class.setdefault(item.label, []).append(item.path)
    for label, paths in by_class.items():
        for path in paths[:per_class]:
            check(cancel)
            thumb = thumbnail(path, size)
            if thumb is not None:
                out[scan.classes[label]].append(thumb)
    return out
