"""The validation images' logits of a measured fit, kept in the bundle of a refitted run, so that
evaluating the training folder later shows those honest held-out predictions instead of scoring
images the saved classifier learnt from (see core.training.refit)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the app reads SPLIT_NAME before torch has loaded
    import torch

HELDOUT_KEY = "heldout"  # bundle meta: the measured fit's validation logits, by image path
SPLIT_NAME = "val (held out from the measured fit; the saved classifier then also learnt from them)"


def heldout_record(val_items, kept: list[int], logits: torch.Tensor, root: Path) -> dict:
    """The measured fit's validation logits, keyed by the image's path relative to the dataset."""
    paths = [os.path.relpath(val_items[k].path, root) for k in kept]
    return {"paths": paths, "logits": [[round(float(v), 6) for v in row] for row in logits.tolist()]}


def stored_logits(meta: dict, files: list[tuple[Path, int]], root: Path) -> tuple[torch.Tensor, list[int]] | None:
    """The stored held-out logits of ``files`` (rows in their order) and the positions found; None when
    the bundle keeps none (it was not refitted)."""
    record = meta.get(HELDOUT_KEY)
    if not record:
        return None
    import torch
    row_of = {p: i for i, p in enumerate(record["paths"])}
    relative = [os.path.relpath(path, root) for path, _ in files]
    found = [i for i, rel in enumerate(relative) if rel in row_of]
    rows = [record["logits"][row_of[relative[i]]] for i in found]
    return torch.tensor(rows, dtype=torch.float32).reshape(len(found), -1), found
