"""Compare models or strategies side by side: same images, same split, same budget, one leaderboard.

Each candidate is an ordinary training run (core.training.trainer.train) in its own folder under the
comparison folder, so every one of them can be opened, tried, exported or resumed like any run.
``comparison.json`` is rewritten after each candidate: a cancelled or crashed comparison keeps the
finished rows.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.base.atomic import atomic_write_json
from core.base.cancel import CancelToken, check
from core.base.errors import Cancelled, TransferLabError
from core.methods.quadrants import is_small
from core.training.events import TrainCallback
from core.training.settings import STRATEGIES, TrainSettings, consistent, with_strategy

if TYPE_CHECKING:  # torch-heavy; this module is imported by the window before torch has loaded
    from core.data.dataset import DatasetScan

COMPARISON_FILE = "comparison.json"
SCRATCH = "scratch"  # the strategy name for "same architecture, random initialisation, train everything"


@dataclass(frozen=True)
class Candidate:
    label: str  # what the leaderboard calls it, e.g. "tf_efficientnet_lite0 · fine-tune-top"
    settings: TrainSettings


@dataclass
class Comparison:
    """A leaderboard: one row per candidate (a dict of its measurements, or its error), best first, all
    trained on one split (``seed``, ``val_fraction``) for the same ``epochs``."""

    dataset_root: str
    classes: list[str]
    epochs: int
    seed: int
    val_fraction: float
    rows: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Comparison:
        return cls(d["dataset_root"], list(d["classes"]), int(d["epochs"]), int(d["seed"]), float(d["val_fraction"]),
                   list(d.get("rows", [])))


class CompareCallback(TrainCallback):
    """Training events of the candidate being trained, plus when each candidate starts and ends."""

    def on_candidate_start(self, index: int, total: int, label: str) -> None: ...

    def on_candidate_end(self, row: dict) -> None: ...


def small_dataset(scan, base: TrainSettings) -> bool:
    """The advisor's size rule (core.methods.quadrants) on the training images of the split the comparison uses."""
    from core.data.dataset import make_split
    train = make_split(scan, base.val_fraction, base.seed).train
    return is_small([sum(1 for i in train if i.label == c) for c in range(len(scan.classes))])


def make_candidates(base: TrainSettings, models: list[str], strategies: list[str], small: bool = True) -> list[Candidate]:
    """One candidate per (model, strategy) with that strategy's defaults; everything else (epochs, seed,
    split, image size, batch size) is the base settings', so the comparison is fair. ``"scratch"``
    trains the same architecture from random weights, to show what pretraining buys."""
    from core.models.network import default_cut_index, layer_groups
    from core.models.weights import create_backbone
    unknown = [s for s in strategies if s not in STRATEGIES and s != SCRATCH]
    if unknown:
        raise TransferLabError(f"Unknown strategy '{unknown[0]}'; choose from {', '.join(STRATEGIES + (SCRATCH,))}")
    if not models or not strategies:
        raise TransferLabError("Choose at least one model and one strategy to compare")
    out = []
    for model in dict.fromkeys(models):
        backbone = create_backbone(model, weights="none").model
        groups, cut = len(layer_groups(backbone)), default_cut_index(backbone)
        for strategy in dict.fromkeys(strategies):
            named = "fine-tune-all" if strategy == SCRATCH else strategy
            s = with_strategy(replace(base, model_name=model), named, groups, cut, small)
            s = replace(s, epochs=base.epochs, weights="none" if strategy == SCRATCH else base.weights)
            if strategy == SCRATCH:  # random weights need a learning rate fit for training from zero
                s = replace(s, backbone_lr=s.head_lr)
            s = consistent(s)
            title = "from scratch (random weights)" if strategy == SCRATCH else strategy
            out.append(Candidate(f"{model} · {title}", s))
    return out


def compare(scan: DatasetScan, candidates: list[Candidate], out_dir: Path, callback: CompareCallback | None = None,
            cancel: CancelToken | None = None, overwrite: bool = False) -> dict:
    """Train every candidate on the same split and rank them by balanced accuracy on the held-out images."""
    from core.training.trainer import check_run_dir, train
    cb = callback or CompareCallback()
    if not candidates:
        raise TransferLabError("Nothing to compare: add at least one candidate")
    out_dir = Path(out_dir)
    first = candidates[0].settings
    # One budget: the epochs of the first candidate that trains in epochs (a classifier fitted to
    # convergence is one fit, whatever the budget).
    budget = next((c.settings.epochs for c in candidates if c.settings.classifier_fit == "epochs"), first.epochs)
    result = Comparison(str(scan.root), list(scan.classes), budget, first.seed, first.val_fraction)
    folders = _folders(candidates)
    for folder in folders:  # before anything is trained: a comparison never stops halfway on this
        check_run_dir(out_dir / folder, scan.root, overwrite)
    for index, (candidate, folder) in enumerate(zip(candidates, folders)):
        check(cancel)
        # Fair: one split (seed and validation share) and one budget (epochs) for all.
        settings = consistent(replace(candidate.settings, seed=first.seed, val_fraction=first.val_fraction,
                                      epochs=budget))
        cb.on_candidate_start(index, len(candidates), candidate.label)
        run_dir = out_dir / folder
        row = {"label": candidate.label, "run_dir": str(run_dir), "model_name": settings.model_name,
               "strategy": settings.strategy, "weights": settings.weights}
        started = time.monotonic()
        try:
            trained = train(scan, settings, run_dir, cb, cancel, overwrite=overwrite)
            row.update(_measure(scan, run_dir, trained.history, cancel), total_seconds=time.monotonic() - started)
        except Cancelled:
            raise
        except TransferLabError as exc:  # e.g. a model whose weights are not available offline
            row["error"] = str(exc)
        result.rows.append(row)
        result.rows.sort(key=rank_key)
        atomic_write_json(out_dir / COMPARISON_FILE, result.to_dict())
        cb.on_candidate_end(row)
    return result


def read_comparison(out_dir: Path) -> Comparison:
    import json
    path = Path(out_dir) / COMPARISON_FILE
    try:
        return Comparison.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise TransferLabError(f"Cannot read the comparison in {out_dir}: {exc}") from exc


def _folders(candidates: list[Candidate]) -> list[str]:
    names: list[str] = []
    for c in candidates:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", c.label).strip("-")[:80] or "run"
        while name in names:
            name += "_"
        names.append(name)
    return names


def _measure(scan: DatasetScan, run_dir: Path, history: list[dict], cancel: CancelToken | None) -> dict:
    """Held-out metrics of the saved model (the best epoch), its cost and its curves."""
    from core.evaluation.predict import evaluate
    from core.models.bundle import WEIGHTS_FILE, load_bundle
    bundle = load_bundle(run_dir)
    report = evaluate(bundle, scan, cancel=cancel)
    params = sum(p.numel() for p in bundle.net.parameters())
    seconds = [h["seconds"] for h in history]
    return {"accuracy": report.accuracy, "balanced_accuracy": report.balanced_accuracy,
            "val_images": report.num_images, "best_epoch": bundle.meta["metrics"]["best_epoch"],
            "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else 0.0,
            "params_m": params / 1e6, "trainable_params_m": bundle.meta.get("trainable_params", 0) / 1e6,
            "size_mb": (run_dir / WEIGHTS_FILE).stat().st_size / 2**20,
            "curves": {k: [h[k] for h in history] for k in ("train_loss", "val_loss", "val_accuracy")}}


def rank_key(row: dict) -> tuple:
    """Best balanced accuracy first; ties go to the faster candidate; failed ones last."""
    if "error" in row:
        return (1, 0.0, 0.0)
    return (0, -row["balanced_accuracy"], row["seconds_per_epoch"])
