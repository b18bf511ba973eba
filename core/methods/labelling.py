"""Labelling the most useful images first: the window's "Label new images" screen (``transferlab suggest`` ranks
a folder once; this goes on as labels come).

A session passes, once, the run's training and validation images (at most REFERENCE of each, spread over their
lists) and every image of the unlabelled folder through the run's model, keeping the features its classifier
reads (core.methods.suggest.head_inputs). Its own linear classifier (core.training.linear_head) on the training
features, plus every new label, gives each unlabelled image its probabilities: the guess shown first, and the
order (core.methods.next_labels: least sure first, spread out, unlike what is labelled). ``refresh`` refits it
on the labels so far, in seconds, and scores the run's validation images: the held-out accuracy after each
refresh is kept in ``history``. Nothing is written here; the caller records labels (core.data.label_sheet).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.base.cancel import CancelToken, check
from core.base.errors import DatasetError, TransferLabError
from core.base.progress import Progress, report, within

REFERENCE = 1000  # at most this many of the run's training (and validation) images, spread over the list


@dataclass
class Step:
    labels: int  # new labels the classifier was fitted with
    accuracy: float  # on the run's validation images


class LabellingSession:
    def __init__(self, bundle, folder: str | os.PathLike, progress: Progress | None = None,
                 cancel: CancelToken | None = None, reference: int = REFERENCE) -> None:
        from core.evaluation.predict import collect_images
        from core.methods.suggest import already_labelled, head_inputs, run_split, spread
        from core.training.linear_head import fit_linear
        folder = Path(os.path.abspath(os.path.expanduser(os.fspath(folder))))
        if not folder.is_dir():
            raise TransferLabError(f"Not a folder: {folder}")
        root = (bundle.meta.get("dataset") or {}).get("root")
        train, val = (spread(run_split(bundle, part), reference) for part in ("train", "val"))
        if not root or not train:
            raise TransferLabError("This model has no record of the images it was trained on (its run.json), so "
                                   "new labels cannot be added to them; train a model in TransferLab first")
        if Path(root) == folder or Path(root) in folder.parents:  # labels there would be lost: a scan reads only
            raise TransferLabError(f"{folder} is inside the dataset folder {root}; choose a folder of new images "
                                   "outside it")  # its class folders
        labelled = already_labelled(bundle, folder)
        files = [f for f in sorted(collect_images([folder]), key=str) if os.path.normcase(os.path.abspath(f))
                 not in labelled]
        if not files:
            raise DatasetError(f"No unlabelled images in {folder}")
        known = [(Path(root) / rel, int(label)) for rel, label in train + val]
        paths = [p for p, _ in known] + files
        _, features, kept = head_inputs(bundle, paths, within(progress, 0, 95, 100), cancel)
        kept = np.asarray(kept)
        check(cancel)
        n_train, n_known = len(train), len(known)
        labels = np.array([label for _, label in known], dtype=np.int64)
        is_train, is_val, is_new = kept < n_train, (kept >= n_train) & (kept < n_known), kept >= n_known
        self.classes = list(bundle.classes)
        self.x_train, self.y_train = features[is_train], labels[kept[is_train]]
        self.x_val, self.y_val = features[is_val], labels[kept[is_val]]
        self.x_new = features[is_new]
        self.paths = [files[i - n_known] for i in kept[is_new]]
        seen = set(kept.tolist())
        self.unreadable = [str(f) for i, f in enumerate(files) if i + n_known not in seen]
        if not len(self.paths):
            raise DatasetError(f"None of the images in {folder} could be read")
        self.labels: dict[int, int] = {}  # unlabelled image -> class, labelled here
        self.set_aside: set[int] = set()  # skipped, or none of the classes: not shown again this session
        report(progress, 95, 100, "Fitting the classifier")
        self.fit = fit_linear(self.x_train, self.y_train, len(self.classes), cancel=cancel)
        self.probabilities = self.fit.probabilities(self.x_new)
        self.history = [Step(0, self._accuracy())]
        report(progress, 100, 100, "Ready")

    def _accuracy(self) -> float:
        if not len(self.y_val):
            return float("nan")
        return float((self.fit.logits(self.x_val).argmax(axis=1) == self.y_val).mean())

    def remaining(self) -> list[int]:
        return [i for i in range(len(self.paths)) if i not in self.labels and i not in self.set_aside]

    def next(self, n: int = 1) -> list[int]:
        """The next ``n`` images to label (indices into ``paths``), the most useful first."""
        from core.methods.next_labels import next_to_label
        rows = self.remaining()
        if not rows:
            return []
        done = list(self.labels)
        known = np.concatenate([self.x_train, self.x_new[done]]) if done else self.x_train
        picked = next_to_label(self.probabilities[rows], self.x_new[rows], n, known)
        return [rows[i] for i in picked]

    def guess(self, index: int) -> tuple[str, float]:
        """The current classifier's most likely class for an image, and its probability."""
        p = self.probabilities[index]
        return self.classes[int(p.argmax())], float(p.max())

    def label(self, index: int, name: str) -> None:
        self.labels[index] = self.classes.index(name)
        self.set_aside.discard(index)

    def put_aside(self, index: int) -> None:
        """Skipped, or of none of the classes: not shown again (the caller records "none of these")."""
        self.labels.pop(index, None)
        self.set_aside.add(index)

    def unlabel(self, index: int) -> None:
        self.labels.pop(index, None)
        self.set_aside.discard(index)

    def labels_since_refresh(self) -> int:
        return len(self.labels) - self.history[-1].labels

    def refresh(self, cancel: CancelToken | None = None) -> Step:
        """Refit on the training images and every label so far (the strength chosen at the start), rescore the
        unlabelled images and the validation images."""
        from core.training.linear_head import fit_linear
        done = list(self.labels)
        x = np.concatenate([self.x_train, self.x_new[done]]) if done else self.x_train
        y = np.concatenate([self.y_train, np.array([self.labels[i] for i in done], dtype=np.int64)])
        self.fit = fit_linear(x, y, len(self.classes), l2=self.fit.l2, cancel=cancel)
        self.probabilities = self.fit.probabilities(self.x_new)
        self.history.append(Step(len(done), self._accuracy()))
        return self.history[-1]
