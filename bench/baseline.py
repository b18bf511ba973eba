"""The plain PyTorch loop the common transfer-learning tutorials write, as the benchmark's yardstick.

fp32, NCHW, ``torchvision.transforms`` on PIL images decoded from disk every epoch, a
``DataLoader`` without workers, the frozen backbone re-run every epoch. It uses the same model,
weights, split, batch size, optimiser (AdamW, the same two learning rates), warm-up/cosine schedule
and epochs as TransferLab, so only the way the work is done differs. Frozen BatchNorm layers stay in
eval mode (a careful tutorial; a sloppy one would let their statistics drift).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from core.models.network import TransferNet, apply_freeze_depth, optimizer_param_groups, set_train_mode
from core.models.preprocess import preprocessing_for
from core.models.weights import create_backbone
from core.training.schedule import warmup_cosine
from core.training.settings import TrainSettings


class Files(Dataset):
    def __init__(self, files: list[tuple[Path, int]], transform: Callable) -> None:
        self.files, self.transform = files, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        path, label = self.files[i]
        return self.transform(Image.open(path).convert("RGB")), label


def _transforms(pp, augment: bool):
    """The model's own preprocessing (timm's data config); augmentation as TransferLab's 'light' preset."""
    bicubic = transforms.InterpolationMode.BICUBIC
    norm = [transforms.ToTensor(), transforms.Normalize(pp.mean, pp.std)]
    if augment:
        return transforms.Compose([transforms.RandomResizedCrop(pp.input_size, scale=(0.7, 1.0),
                                                                interpolation=bicubic),
                                   transforms.RandomHorizontalFlip(), *norm])
    return transforms.Compose([transforms.Resize(round(pp.input_size / pp.crop_pct), interpolation=bicubic),
                               transforms.CenterCrop(pp.input_size), *norm])


def run(train_files, val_files, num_classes: int, settings: TrainSettings, on_epoch: Callable[[dict], None]) -> None:
    """Train like a tutorial; ``on_epoch`` gets {epoch, seconds (since start), epoch_seconds, val_accuracy}."""
    start = time.perf_counter()
    torch.manual_seed(settings.seed)
    backbone = create_backbone(settings.model_name).model
    net = TransferNet(backbone, num_classes)
    apply_freeze_depth(net, settings.freeze_depth)
    pp = preprocessing_for(backbone, settings.image_size)
    train_loader = DataLoader(Files(train_files, _transforms(pp, settings.augmentation != "none")),
                              batch_size=settings.batch_size, shuffle=True)
    val_loader = DataLoader(Files(val_files, _transforms(pp, False)), batch_size=settings.batch_size)
    optimizer = torch.optim.AdamW(optimizer_param_groups(net, settings.head_lr, settings.backbone_lr,
                                                         settings.weight_decay))
    steps = len(train_loader) * settings.epochs
    scheduler = warmup_cosine(optimizer, steps, int(settings.warmup_fraction * steps))
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, settings.epochs + 1):
        epoch_start = time.perf_counter()
        set_train_mode(net)
        for x, y in train_loader:
            loss = loss_fn(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        net.eval()
        correct = seen = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += (net(x).argmax(1) == y).sum().item()
                seen += len(y)
        now = time.perf_counter()
        on_epoch({"epoch": epoch, "seconds": now - start, "epoch_seconds": now - epoch_start,
                  "val_accuracy": correct / seen})
