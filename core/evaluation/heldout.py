"""The validation images' logits of a measured fit, kept in the bundle of a refitted run, so that
evaluating the training folder later shows those honest held-out predictions instead of scoring
images the saved classifier learnt from (see core.training.refit)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from core.data.items import split_key

if TYPE_CHECKING:  # the app reads SPLIT_NAME before torch has loaded
    import torch

HELDOUT_KEY = "heldout"  # bundle meta: the measured fit's validation logits, by image path
SPLIT_NAME = "val (held out from the measured fit; the saved classifier then also learnt from them)"
RUN_FILE = "run.json"  # core.training.runs.RUN_FILE (read here: evaluation sits below training)


def _record(run_dir: Path | None) -> dict:
    try:
        return json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8")) if run_dir else {}
    except (OSError, ValueError):
        return {}


def recorded_validation(run_dir: Path | None, items: list, classes: list[str], root: Path) -> tuple[list | None, dict]:
    """(those of ``items`` (today's labels) that the run in ``run_dir`` held out for validation, as its run.json
    recorded them, or None when it recorded none or none of them is there any more; how today's labels differ on
    them: {"recorded": how many it held out, "left_out": those no longer among ``items`` (excluded by the label
    sheet, or gone), "relabelled": those with another class now}, {} without a record). Today's split may differ:
    corrected labels and added images move images between training and validation (a walkthrough saw an opened
    run measured 88.9% on its 9 validation images, then 100% on 3 others)."""
    record = _record(run_dir)
    rows = (record.get("split") or {}).get("val") or []
    names = record.get("classes") or []
    held_out = {str(rel): label for rel, label in rows}
    found = [(i, held_out.get(split_key(i.path, root))) for i in items]
    found = [(i, label) for i, label in found if label is not None]
    changed = {} if not rows or not names else {
        "recorded": len(rows), "left_out": len(rows) - len(found),
        "relabelled": sum(label < len(names) and classes[i.label] != names[label] for i, label in found)}
    found = [i for i, _ in found]
    return found or None, changed


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
