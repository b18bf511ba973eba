"""Rank pretrained models for a dataset before training anything: LogME on frozen features.

Each candidate runs once over a stratified sample of the labelled images; its pooled features
are scored with LogME (core.methods.transferability) and, optionally, the cross-validated accuracy of a
linear probe, the number a "feature extraction" run would roughly reach. Models whose
ImageNet weights are not on this computer are listed as skipped, with the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import timm

from core.base.cancel import CancelToken, check
from core.base.errors import WeightsError
from core.base.progress import Progress, report, within
from core.data.dataset import DatasetScan
from core.methods.pooled_features import extract, stratified_sample, training_items
from core.methods.transferability import linear_probe_accuracy, logme
from core.models.catalog import CATALOG
from core.models.devices import resolve_device
from core.models.preprocess import preprocessing_for
from core.models.weights import create_backbone
from core.models.weights_status import DOWNLOAD, offline_status

MEANING = ("LogME measures how well a simple classifier on this model's frozen features can explain your "
           "labels; higher is better; only the order between models matters, not the absolute value.")


@dataclass
class ModelScore:
    model_name: str
    logme: float | None
    probe_accuracy: float | None  # cross-validated linear probe on the frozen features
    images: int
    seconds: float  # forward passes only
    images_per_second: float
    feature_dim: int
    params_m: float  # millions of backbone parameters (ImageNet head excluded)
    skipped_reason: str | None = None  # None when scored

    @property
    def scored(self) -> bool:
        return self.skipped_reason is None

    def to_dict(self) -> dict:
        return asdict(self)

    def sentence(self, rank: int, total: int) -> str:
        """One plain-English line, e.g. for a table's tooltip."""
        if not self.scored:
            return f"{self.model_name} was not scored: {self.skipped_reason}."
        probe = (f"; a linear classifier on its frozen features reached {100 * self.probe_accuracy:.0f}% "
                 "cross-validated accuracy" if self.probe_accuracy is not None else "")
        return (f"{self.model_name} is ranked {rank} of {total} (LogME {self.logme:.3f}){probe}; "
                f"it ran at {self.images_per_second:.0f} images/s.")


def skipped(model_name: str, reason: str) -> ModelScore:
    return ModelScore(model_name, None, None, 0, 0.0, 0.0, 0, 0.0, reason)


def explain(scores: list[ModelScore]) -> list[str]:
    """What LogME means, then one sentence per model, in the ranked order."""
    total = sum(s.scored for s in scores)
    lines, rank = [MEANING], 0
    for s in scores:
        rank += s.scored
        lines.append(s.sentence(rank, total))
    return lines


def default_candidates() -> list[str]:
    """The catalog's models; those whose weights are not on this computer will be skipped."""
    return [info.name for info in CATALOG]


def unavailable_reason(model_name: str, allow_download: bool = False) -> str | None:
    """Why ``model_name`` cannot be scored offline, or None when it can."""
    if not timm.is_model(model_name):
        return f"'{model_name}' is not a model timm knows"
    if not allow_download and offline_status(model_name) == DOWNLOAD:
        return ("its ImageNet weights are not on this computer yet (they are downloaded from the Hugging Face "
                "hub the first time the model is used)")
    return None


def _probe(features, labels, seed: int) -> float | None:
    try:
        return linear_probe_accuracy(features, labels, seed=seed)
    except ValueError:  # a class lost its images to unreadable files: too few to cross-validate
        return None


def _order(scores: list[ModelScore]) -> list[ModelScore]:
    ranked = sorted((s for s in scores if s.scored),
                    key=lambda s: (-s.logme, -(s.probe_accuracy or 0.0), -s.images_per_second))
    return ranked + [s for s in scores if not s.scored]


def rank_models(scan: DatasetScan, models: list[str] | None = None, max_images: int = 200,
                image_size: int | None = None, progress: Progress | None = None,
                cancel: CancelToken | None = None, with_probe: bool = True, seed: int = 0,
                device: str = "auto", allow_download: bool = False) -> list[ModelScore]:
    """Score each candidate (default: the catalog) on the same sample of ``scan``'s labelled
    images; best LogME first, skipped models last. Raises core.base.errors.Cancelled on cancel."""
    scan.require_trainable()
    names = list(dict.fromkeys(models if models is not None else default_candidates()))
    reasons = {name: unavailable_reason(name, allow_download) for name in names}
    todo = [name for name in names if reasons[name] is None]
    sample = stratified_sample(training_items(scan), max_images, seed)
    total = max(1, len(todo) * len(sample))
    target = resolve_device(device)
    scores = [skipped(name, reasons[name]) for name in names if reasons[name] is not None]
    for position, name in enumerate(todo):
        check(cancel)
        done = position * len(sample)
        message = f"Scoring {name} ({position + 1} of {len(todo)})…"
        report(progress, done, total, message)
        share = within(progress, done, done + len(sample), total, message)  # loading, then its images
        try:
            loaded = create_backbone(name, "pretrained", progress=share)
        except WeightsError as exc:
            scores.append(skipped(name, str(exc)))
            continue
        model = loaded.model
        pp = preprocessing_for(model, image_size)
        pooled = extract(model, sample, pp, device=target, progress=share, cancel=cancel)
        if pooled.images == 0:
            scores.append(skipped(name, "none of the sampled images could be read"))
            continue
        check(cancel)
        probe = _probe(pooled.final, pooled.labels, seed) if with_probe else None
        head = {id(p) for p in model.get_classifier().parameters()}
        params = sum(p.numel() for p in model.parameters() if id(p) not in head)
        speed = pooled.images / pooled.seconds if pooled.seconds > 0 else 0.0
        scores.append(ModelScore(name, logme(pooled.final, pooled.labels), probe, pooled.images, pooled.seconds,
                                 speed, int(pooled.final.shape[1]), params / 1e6))
    report(progress, total, total, "Models ranked")
    return _order(scores)
