"""Decode each image once per run: decoded, resized uint8 tensors kept in memory up to a budget.

JPEG/PNG decoding and the first resize are the same every epoch, so they are done once, in a
few threads (Pillow releases the GIL while decoding). Past the memory budget the remaining
images are *streamed*: decoded again each time they are needed, so a dataset that does not fit
still trains, only slower. Random augmentation happens later, on the cached tensors.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from core.base.cancel import CancelToken, check
from core.base.errors import ImageLoadError
from core.base.progress import Progress, report
from core.data.images import load_rgb
from core.models.accel import usable_cpu_count
from core.models.preprocess import Preprocessing, interpolation_mode

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_BUDGET_FRACTION = 0.2  # of physical memory
DEFAULT_BUDGET_CAP = 3 << 30  # 3 GiB


def default_budget_bytes() -> int:
    total = 8 << 30
    with contextlib.suppress(AttributeError, ValueError, OSError):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(min(DEFAULT_BUDGET_CAP, total * DEFAULT_BUDGET_FRACTION))


def ordered_map(fn: Callable[[T], R], items: Sequence[T], threads: int | None = None,
                cancel: CancelToken | None = None, window: int = 64) -> Iterator[R]:
    """``map(fn, items)`` on a few threads, results in order, at most ``window`` in flight."""
    threads = threads or usable_cpu_count()
    if threads <= 1:
        for item in items:
            check(cancel)
            yield fn(item)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decode") as pool:
        for start in range(0, len(items), window):
            check(cancel)
            yield from pool.map(fn, items[start:start + window])


def short_side_resizer(size: int, pp: Preprocessing) -> v2.Resize:
    """The resize of the evaluation transform (short side to ``size``), the same object the plain path uses."""
    return v2.Resize(size, interpolation=interpolation_mode(pp.interpolation), antialias=True)


def decode_resized(path: Path, resize: v2.Resize) -> torch.Tensor | None:
    """uint8 CHW tensor of the image resized by ``resize``, or None when it cannot be read."""
    try:
        image = load_rgb(path)
    except ImageLoadError:
        return None
    return F.pil_to_tensor(resize(image))


class DecodedImages:
    """Images of ``paths`` decoded once and resized (short side = ``size``), as uint8 CHW tensors."""

    def __init__(self, paths: Sequence[Path], size: int, pp: Preprocessing, budget_bytes: int | None = None,
                 threads: int | None = None, cancel: CancelToken | None = None,
                 progress: Progress | None = None) -> None:
        self.paths = list(paths)
        self.size = size
        self.resize = short_side_resizer(size, pp)
        budget = default_budget_bytes() if budget_bytes is None else budget_bytes
        self._images: list[torch.Tensor | None] = []
        self.readable: list[bool] = []
        self.bytes = 0
        self.streamed = 0
        total = len(self.paths)
        for i, image in enumerate(ordered_map(self._decode, self.paths, threads, cancel), 1):
            self.readable.append(image is not None)
            if image is not None and self.bytes + image.numel() <= budget:
                self.bytes += image.numel()
                self._images.append(image)
            else:
                self.streamed += image is not None
                self._images.append(None)
            report(progress, i, total)

    def _decode(self, path: Path) -> torch.Tensor | None:
        return decode_resized(path, self.resize)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def cached(self) -> int:
        return sum(image is not None for image in self._images)

    def get(self, index: int) -> torch.Tensor | None:
        """The decoded image (from memory, or decoded again if it was past the budget); None if unreadable."""
        if not self.readable[index]:
            return None
        image = self._images[index]
        return image if image is not None else self._decode(self.paths[index])

    def iter_images(self, indices: Iterable[int]) -> Iterator[torch.Tensor | None]:
        for i in indices:
            yield self.get(i)
