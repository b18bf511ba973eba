"""The validation images' logits of a measured fit, kept in the bundle of a refitted run, so that
evaluating the training folder later shows those honest held-out predictions instead of scoring
images the saved classifier learnt from (see core.training.refit)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the app reads SPLIT_NAME before torch has loaded
    import torch

HELDOUT_KEY = "heldout"  # bundle meta: the measured fit's validation logits, by image path
SPLIT_NAME = "val (held out from the measured fit; the saved classifier then also learnt from them)"
RUN_FILE = "run.json"  # core.training.runs.RUN_FILE (read here: evaluation sits below training)


def _key(path, root: Path) -> str:
    """A path as core.training.runs.relative_items records it."""
    try:
        return os.path.relpath(path, root)
    except ValueError:  # another drive (Windows): no relative path
        return os.path.abspath(path)


def _record(run_dir: Path | None) -> dict:
    try:
        return json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8")) if run_dir else {}
    except (OSError, ValueError):
        return {}


def changed_since(run_dir: Path | None, items: list, classes: list[str], root: Path) -> dict:
    """How today's labels differ on the validation images the run recorded: {"recorded": how many it held out,
    "left_out": those no longer among ``items`` (excluded by the label sheet, or gone), "relabelled": those with
    another class now}; {} without a record."""
    record = _record(run_dir)
    rows = (record.get("split") or {}).get("val") or []
    names = record.get("classes") or []
    if not rows or not names:
        return {}
    today = {_key(i.path, root): classes[i.label] for i in items}
    found = [(str(rel), names[label]) for rel, label in rows if str(rel) in today and label < len(names)]
    return {"recorded": len(rows), "left_out": len(rows) - len(found),
            "relabelled": sum(today[rel] != name for rel, name in found)}


def recorded_validation(run_dir: Path | None, items: list, root: Path) -> list | None:
    """Those of ``items`` (today's labels) that the run in ``run_dir`` held out for validation, as its run.json
    recorded them; None when it recorded none or none of them is there any more. Today's split may differ:
    corrected labels and added images move images between training and validation (a walkthrough saw an opened
    run measured 88.9% on its 9 validation images, then 100% on 3 others)."""
    held_out = {str(row[0]) for row in ((_record(run_dir).get("split") or {}).get("val") or [])}
    found = [i for i in items if _key(i.path, root) in held_out]
    return found or None


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
