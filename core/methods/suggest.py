"""Which unlabelled images to label next for a trained run: the ones whose label would help its model most.

Every image of the folder (recursively; image files only) is passed once through the run's model, which gives its
probabilities and the features its classifier reads (the head's input, caught on the way: one pass, the same
inference as core.evaluation.predict). core.methods.next_to_label then orders them: least sure first (the margin
between the two most likely classes), spread out so that near-identical images are not all shown, and unlike the
images the model was trained on: up to REFERENCE of the run's training images (from its run.json, those still on
disk) go through the same pass for that; an exported model without its run.json is ranked without them.

Images labelled already are not suggested again: every image with a row in the label sheet the run used (or its
dataset's own sheet), and when the folder is inside the run's dataset folder, the images in a class folder there
(labelled by their folder). Images that cannot be read are listed, not fatal. Nothing is written.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.base.cancel import CancelToken
from core.base.errors import DatasetError, TransferLabError
from core.base.progress import Progress, saying
from core.evaluation.predict import collect_images
from core.methods.next_labels import margins, next_to_label

REFERENCE = 128  # at most this many of the run's training images stand for what is labelled already
BATCH = 32


@dataclass
class Suggestion:
    path: str
    guess: str  # the class the model finds most likely
    probability: float  # of that class
    margin: float  # the most likely class's probability minus the second's (small: unsure)
    probabilities: dict[str, float]  # every class's

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Suggestions:
    suggestions: list[Suggestion]  # in the order to label them
    images: int  # unlabelled images ranked (readable, not labelled already)
    classes: list[str]
    already_labelled: int = 0  # images of the folder left out: labelled in the dataset or its sheet
    reference: int = 0  # the run's training images its picks were kept unlike
    unreadable: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"suggestions": [s.to_dict() for s in self.suggestions], "images": self.images,
                "classes": self.classes, "already_labelled": self.already_labelled, "reference": self.reference,
                "unreadable": self.unreadable}


def suggest_labels(bundle, folder, n: int, progress: Progress | None = None,
                   cancel: CancelToken | None = None) -> Suggestions:
    """The ``n`` images of ``folder`` to label next for ``bundle`` (core.models.bundle.Bundle), in order."""
    folder = Path(os.path.abspath(os.path.expanduser(os.fspath(folder))))
    if not folder.is_dir():
        raise TransferLabError(f"Not a folder: {folder}")
    if n < 1:
        raise TransferLabError(f"How many images to suggest must be at least 1 (got {n})")
    files = sorted(collect_images([folder]), key=str)
    if not files:
        raise DatasetError(f"No images in {folder}")
    labelled = already_labelled(bundle, folder, files)
    candidates = [f for f in files if _key(f) not in labelled]
    reference = _reference(bundle) if candidates else []
    probabilities, features, kept = head_inputs(bundle, candidates + reference, progress, cancel)
    ours = kept < len(candidates)
    rows = np.flatnonzero(ours)
    seen = set(kept[ours].tolist())
    unreadable = [str(f) for i, f in enumerate(candidates) if i not in seen]
    known = features[~ours]
    order = next_to_label(probabilities[rows], features[rows], n, known if len(known) else None)
    gaps = margins(probabilities[rows]) if len(rows) else np.zeros(0)
    classes = bundle.classes
    picked = []
    for i in order:
        p = probabilities[rows[i]]
        best = int(p.argmax())
        picked.append(Suggestion(str(candidates[kept[rows[i]]]), classes[best], float(p[best]), float(gaps[i]),
                                 {c: float(v) for c, v in zip(classes, p)}))
    return Suggestions(picked, len(rows), classes, len(files) - len(candidates), int((~ours).sum()), unreadable)


def head_inputs(bundle, files: list[Path], progress: Progress | None,
          cancel: CancelToken | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities, the classifier's input features, positions in ``files``) of the readable ``files``."""
    from core.data.loading import make_loader
    from core.models import inference
    from core.models.devices import resolve_device
    from core.models.preprocess import eval_transform
    if not files:
        return np.zeros((0, len(bundle.classes))), np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
    device = resolve_device("auto")
    net, plan = inference.fast_copy(bundle.net, device)
    caught = []
    hook = net.head.register_forward_pre_hook(lambda _module, inputs: caught.append(inputs[0].float().cpu()))
    try:
        loader = make_loader([(p, -1) for p in files], eval_transform(bundle.preprocessing), BATCH)
        out = inference.run(net, loader, device, cancel, saying(progress, "Looking at the images"), plan,
                            bundle.temperature)
    finally:
        hook.remove()
    if not caught:
        return np.zeros((0, len(bundle.classes))), np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
    import torch
    return (out.probabilities.double().numpy(), torch.cat(caught).double().numpy(),
            out.indices.numpy().astype(np.int64))


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def already_labelled(bundle, folder: Path, files: list[Path] | None = None) -> set[str]:
    """Which images of ``folder`` (``files``: those found there, else found here) are labelled already, as
    normcased absolute paths: those with a row in the label sheet the run used (or its dataset's own sheet; new
    images outside the dataset folder too), and when ``folder`` is inside the run's dataset folder, those in a class
    folder there (labelled by their folder, as a scan sees them: a pre-split folder's test images too)."""
    dataset = bundle.meta.get("dataset") or {}
    root = dataset.get("root")
    if not root:
        return set()
    from core.data.label_sheet import UNLABELLED, read_sheet
    sheet = (dataset.get("label_sheet") or {}).get("path")
    try:
        rows = read_sheet(root, Path(sheet) if sheet else None)
    except TransferLabError:
        rows = {}  # a sheet that cannot be read any more: nothing known from it
    labelled = {_key(os.path.normpath(Path(root) / rel)) for rel, label in rows.items()
                if label != UNLABELLED}  # a label taken back (Undo) is no label
    if not (Path(root) == folder or Path(root) in folder.parents):
        return labelled
    splits = set((dataset.get("split_folders") or {}).values())
    depth = 3 if dataset.get("layout") == "pre-split" else 2  # (split folder,) class folder, file
    for path in collect_images([folder]) if files is None else files:
        parts = Path(path).relative_to(root).parts
        if len(parts) >= depth and (depth == 2 or parts[0] in splits):
            labelled.add(_key(path))
    return labelled


def run_split(bundle, part: str) -> list:
    """The run's [relative path, label] of its train or val images, from its run.json; [] without one."""
    from core.training.runs import read_record
    try:
        return list((read_record(bundle.run_dir).get("split") or {}).get(part) or [])
    except TransferLabError:
        return []


def _reference(bundle) -> list[Path]:
    """Up to REFERENCE of the run's training images that are still there, spread over its list (by class)."""
    root = (bundle.meta.get("dataset") or {}).get("root")
    train = run_split(bundle, "train")
    if not root or not train:
        return []
    picked = [Path(root) / rel for rel, _ in spread(train, REFERENCE)]
    return [p for p in picked if p.is_file()]


def spread(rows: list, limit: int) -> list:
    """At most ``limit`` of ``rows``, evenly spaced over the list (a run's split lists each class in turn)."""
    step = max(1.0, len(rows) / limit)
    return [rows[int(k * step)] for k in range(min(limit, len(rows)))]
