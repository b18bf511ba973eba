"""Torch datasets over scanned image files; unreadable files are dropped, never fatal."""

from pathlib import Path
from typing import Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from core.base.errors import ImageLoadError
from core.data.images import load_rgb


class ImageFiles(Dataset):
    """(path, label) pairs -> (tensor, label, index); a file that fails to load yields None."""

    def __init__(self, files: Sequence[tuple[Path, int]], transform: Callable) -> None:
        self.files = list(files)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        path, label = self.files[index]
        try:
            image = load_rgb(path)
        except ImageLoadError:
            return None
        return self.transform(image), label, index


def collate_skipping_failures(batch):
    good = [b for b in batch if b is not None]
    if not good:
        return None
    images = torch.stack([b[0] for b in good])
    labels = torch.tensor([b[1] for b in good], dtype=torch.long)
    indices = torch.tensor([b[2] for b in good], dtype=torch.long)
    return images, labels, indices


def make_loader(files: Sequence[tuple[Path, int]], transform: Callable, batch_size: int, shuffle: bool = False,
                seed: int = 0, num_workers: int = 0, pin_memory: bool = False,
                batch_sampler: Sampler | None = None) -> DataLoader:
    """A loader over ``files``; with ``batch_sampler``, batches come in that sampler's order."""
    generator = torch.Generator().manual_seed(seed)
    if batch_sampler is not None:
        return DataLoader(ImageFiles(files, transform), batch_sampler=batch_sampler, generator=generator,
                          num_workers=num_workers, collate_fn=collate_skipping_failures, pin_memory=pin_memory)
    return DataLoader(ImageFiles(files, transform), batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=num_workers, collate_fn=collate_skipping_failures, pin_memory=pin_memory,
                      persistent_workers=False)
