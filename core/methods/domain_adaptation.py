"""Domain-adversarial training (DANN, Ganin et al., JMLR 2016) with a folder of unlabeled target images.

The label head learns from the labelled source images only. A small domain classifier sits on the
backbone's pooled features behind a gradient reversal layer: it learns to tell source from target
features, while the reversed gradient teaches the trainable backbone layers features it cannot tell
apart. Source and target batches go through the network one after the other (as common DANN
implementations do), so BatchNorm layers that train normalise each domain by its own batch statistics
while training; their running statistics, used for predicting, average the two. The reversal strength
ramps up as in the paper, ``domain_weight * (2 / (1 + exp(-10 p)) - 1)`` with ``p`` the share of
training done, and the model of the last epoch is kept (source validation accuracy cannot tell how
well it does on the target).

DANN is a training method of the one training loop (core.training.method, core.training.trainer): the
domain classifier is an extra module in the run's optimiser, its loss an extra loss of each step, and
the loop checkpoints every epoch, so Cancel keeps the last finished epoch as a model and an interrupted
run resumes (:func:`resume_adapted`; the target images are drawn per epoch from a seeded order, so a
resumed run continues as the uninterrupted one would). The model is a normal bundle with an extra
``adaptation`` section, so predicting, evaluating and exporting work on it unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from core.base.cancel import CancelToken
from core.base.errors import DatasetError, TransferLabError
from core.data.dataset import DatasetScan, scan_dataset
from core.data.walk import probe_all, walk_files
from core.models.bundle import load_bundle, save_bundle
from core.models.network import TransferNet, layer_groups
from core.models.trunk import TrainableTop
from core.models.weights import create_backbone
from core.training import runs
from core.training.events import TrainCallback
from core.training.method import TrainingMethod
from core.training.result import TrainResult
from core.training.run_setup import make_engine
from core.training.settings import TrainSettings, strategy_settings
from core.training.trainer import check_run_dir, resume_training, train

METHOD = "DANN"
DEFAULT_DOMAIN_WEIGHT = 1.0
DOMAIN_HIDDEN = 256  # units of the domain classifier's hidden layer
FEW_TARGET_IMAGES = 20


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by ``-lam`` on the way back."""
    return _GradReverse.apply(x, lam)


def reversal_strength(progress: float, domain_weight: float) -> float:
    """The paper's schedule: 0 at the start, approaching ``domain_weight`` as ``progress`` reaches 1."""
    return domain_weight * (2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0)


class DomainHead(nn.Module):
    """Source (0) or target (1) from pooled features: one hidden layer, one logit."""

    def __init__(self, dim: int, hidden: int = DOMAIN_HIDDEN) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.5), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features).squeeze(1)


@dataclass
class AdaptResult(TrainResult):
    target_images: int = 0
    domain_accuracy: list[float] = field(default_factory=list)  # per epoch, on the training batches
    target_test_accuracy: float | None = None
    notes: list[str] = field(default_factory=list)


def scan_target_folder(folder: Path, cancel: CancelToken | None = None) -> list[Path]:
    """The readable images anywhere under ``folder`` (core's image checks); a DatasetError if there are none."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise DatasetError(f"The target image folder {folder} does not exist or is not a folder")
    skipped: list = []
    candidates = walk_files(folder, skipped, cancel)
    if not candidates:
        raise DatasetError(f"The target image folder {folder} holds no images (looked for "
                           "jpg, png, bmp, tif, webp and gif files in it and its subfolders)")
    probed = probe_all(candidates, None, cancel)
    good = [p for p, (reason, _) in zip(candidates, probed) if reason is None]
    if not good:
        reason = next(r for r, _ in probed if r)
        raise DatasetError(f"None of the {len(candidates)} image files in the target folder {folder} can be "
                           f"used (e.g. {candidates[0].name}: {reason})")
    return good


def adaptable_settings(settings: TrainSettings) -> tuple[TrainSettings, list[str]]:
    """Settings DANN can run with, and what was changed: a frozen backbone becomes fine-tune-top (the
    adaptation has to change the features), and two-stage fine-tuning becomes one stage (a head-only
    stage cannot adapt anything). L2-SP, if set, applies as in plain fine-tuning."""
    notes = []
    if settings.freeze_depth < 1 or settings.strategy in ("feature-extraction", "truncated"):
        groups = len(layer_groups(create_backbone(settings.model_name, weights="none").model))
        depth = strategy_settings("fine-tune-top", groups, None)["freeze_depth"]
        notes.append(f"Domain adaptation has to change the pretrained layers, so it fine-tunes the top {depth} "
                     f"of {groups} layer groups instead of '{settings.strategy}' with them frozen")
        top = strategy_settings("fine-tune-top", groups, None)
        settings = replace(settings, strategy="fine-tune-top", freeze_depth=depth, cut_index=None,
                           epochs=settings.epochs if settings.classifier_fit == "epochs" else top["epochs"])
    if settings.classifier_fit != "epochs":  # a single fit on frozen features has nothing to adapt
        settings = replace(settings, classifier_fit="epochs")
    if getattr(settings, "two_stage", False) or settings.lp_ft:
        notes.append("Domain adaptation trains the new classifier and the pretrained layers together from the first "
                     "epoch (two-stage fine-tuning is off for it)")
        settings = replace(settings, two_stage=False, gradual_unfreeze=False, lp_ft=False)
    return settings, notes


def train_adapted(scan: DatasetScan, target_folder: Path, settings: TrainSettings, run_dir: Path,
                  callback: TrainCallback | None = None, cancel: CancelToken | None = None,
                  target_test_scan: DatasetScan | None = None, overwrite: bool = False,
                  domain_weight: float | None = None) -> AdaptResult:
    """Train on ``scan`` while adapting to the unlabeled images in ``target_folder``; save a bundle in ``run_dir``.

    ``domain_weight`` (default ``settings.extra["domain_weight"]``, else 1.0) scales the reversed gradient.
    With ``target_test_scan`` (labelled target images), the saved model's accuracy on it is reported.
    """
    cb = callback or TrainCallback()
    weight = float(domain_weight if domain_weight is not None
                   else settings.extra.get("domain_weight", DEFAULT_DOMAIN_WEIGHT))
    if not 0 <= weight <= 10:
        raise TransferLabError(f"The domain weight must be between 0 and 10 (got {weight})")
    settings.validate()
    scan.require_trainable()
    run_dir, target_folder = Path(run_dir), Path(target_folder).expanduser().resolve()
    check_run_dir(run_dir, scan.root, overwrite)
    check_run_dir(run_dir, target_folder, overwrite)
    target = scan_target_folder(target_folder, cancel)
    if set(target) & {i.path.resolve() for i in scan.all_items()}:
        raise DatasetError(f"The target folder {target_folder} holds images of the labelled dataset; choose a "
                           "folder with images from the new setting only")
    if target_test_scan is not None:
        _check_target_test(target_test_scan, scan)
    settings, notes = adaptable_settings(settings)
    if len(target) < FEW_TARGET_IMAGES:
        notes.append(f"Only {len(target)} target images: domain adaptation works best with a few hundred")
    if settings.early_stopping_patience:
        notes.append("Early stopping is off for domain adaptation: the adaptation is strongest at the end")
    for message in notes:
        cb.on_status(message)
    adaptation = {"method": METHOD, "target_folder": str(target_folder), "target_images": len(target),
                  "domain_weight": weight, "target_test_folder": str(target_test_scan.root) if target_test_scan
                  else None}
    result = train(scan, settings, run_dir, cb, cancel, overwrite=overwrite, method=DannMethod(target, adaptation))
    return _adapted(result, adaptation, target_test_scan, settings.device, cb, cancel, notes)


def resume_adapted(run_dir: Path, callback: TrainCallback | None = None,
                   cancel: CancelToken | None = None) -> AdaptResult:
    """Continue an interrupted domain-adapted run from its last checkpoint, with the same target images."""
    cb = callback or TrainCallback()
    record = runs.read_record(Path(run_dir))
    adaptation = record.get("adaptation") or {}
    target = scan_target_folder(Path(adaptation.get("target_folder", "")), cancel)
    if len(target) != adaptation.get("target_images"):
        raise TransferLabError(f"The target folder {adaptation.get('target_folder')} now holds {len(target)} usable "
                               f"images, not the {adaptation.get('target_images')} the run started with; it cannot "
                               "continue on the same images. Start a new run instead.")
    result = resume_training(run_dir, cb, cancel, method=DannMethod(target, adaptation))
    folder = adaptation.get("target_test_folder")
    test = scan_dataset(folder, cancel=cancel) if folder and Path(folder).is_dir() else None
    return _adapted(result, adaptation, test, record["settings"].get("device", "auto"), cb, cancel, [])


def _adapted(result: TrainResult, adaptation: dict, target_test: DatasetScan | None, device: str,
             cb: TrainCallback, cancel: CancelToken | None, notes: list[str]) -> AdaptResult:
    accuracy = None
    if target_test is not None and not result.cancelled:
        accuracy = _measure_on_target(result.run_dir, target_test, device, cb, cancel)
    return AdaptResult(**vars(result), target_images=adaptation["target_images"], target_test_accuracy=accuracy,
                       domain_accuracy=[h["domain_accuracy"] for h in result.history if "domain_accuracy" in h],
                       notes=notes)


def _check_target_test(test: DatasetScan, scan: DatasetScan) -> None:
    """Before training: labelled target images must exist and use the source dataset's class names."""
    unknown = [c for c in test.classes if c not in scan.classes]
    if unknown:
        raise DatasetError(f"The labelled target images in {test.root} have classes the labelled dataset does not: "
                           f"{', '.join(unknown)} (it has: {', '.join(scan.classes)})")
    if not test.all_items():
        raise DatasetError(f"There are no usable labelled target images in {test.root}")


class DannMethod(TrainingMethod):
    """DANN's additions to the training loop: the domain classifier and its loss through the reversal."""

    name = METHOD
    keep_last_epoch = True  # source validation accuracy cannot tell how well a model does on the target

    def __init__(self, target: list[Path], adaptation: dict) -> None:
        self.target, self.adaptation = target, adaptation
        self.weight = float(adaptation["domain_weight"])
        self.net: TransferNet | None = None
        self.domain: DomainHead | None = None
        self.lam, self.seen, self.right = 0.0, 0, 0
        self.step_counts = [0, 0]  # right, seen in the step under way (a retried step starts again)

    def attach(self, net, pp, settings, plan, cb, cancel) -> None:
        if not any(p.requires_grad for p in net.backbone.parameters()):
            raise TransferLabError("Domain adaptation needs a backbone that trains; choose a fine-tuning strategy")
        self.net, self.epochs, self.seed = net, settings.epochs, settings.seed + 1
        self.target_engine = make_engine(net, pp, replace(settings, seed=self.seed), plan,
                                         [(p, 0) for p in self.target], [], cb, cancel, images="target images")
        self.domain = plan.prepare_module(DomainHead(net.head.in_features))

    def param_groups(self, settings: TrainSettings) -> list[dict]:
        return [{"params": list(self.domain.parameters()), "lr": settings.head_lr,
                 "weight_decay": settings.weight_decay, "name": "domain"}]

    def description(self) -> str:
        return f"domain-adversarial (DANN) with {len(self.target)} target images"

    def start_epoch(self, epoch: int) -> None:
        self.domain.train()
        self.seen = self.right = 0
        self.step_counts = [0, 0]
        self.target_engine.sampler_generator.manual_seed(self.seed * 100003 + epoch)  # the epoch alone decides
        self.targets = _cycle(self.target_engine.train_batches)

    def _count_step(self) -> None:
        """The finished step's domain guesses join the epoch's (a step retried after running out of
        memory counted its failed try in step_counts, which part 0 resets)."""
        self.right, self.seen = self.right + self.step_counts[0], self.seen + self.step_counts[1]
        self.step_counts = [0, 0]

    def before_step(self, epoch: int, batch: int, batches: int) -> None:
        self._count_step()
        self.lam = reversal_strength(((epoch - 1) * batches + batch - 1) / (batches * self.epochs), self.weight)
        self.target_batch = next(self.targets)

    def forward(self, module, x, part, parts):
        features = _features_of(module, self.net)
        xt = self.target_batch.tensor_split(parts)[part]
        source, target = features(x), features(xt)  # apart: each domain's own statistics in BatchNorm
        logits = self.net.head(source)
        d_logits = self.domain(grad_reverse(torch.cat([source, target]), self.lam))
        is_target = torch.cat([torch.zeros(len(x)), torch.ones(len(xt))]).to(d_logits.device)
        if part == 0:
            self.step_counts = [0, 0]
        self.step_counts[0] += int(((d_logits.detach() > 0).float() == is_target).sum().item())
        self.step_counts[1] += len(is_target)
        return logits, nn.functional.binary_cross_entropy_with_logits(d_logits.float(), is_target)

    def epoch_extras(self) -> dict:
        self._count_step()
        return {"domain_accuracy": self.right / max(1, self.seen), "reversal_strength": self.lam}

    def epoch_status(self, epoch: int) -> str:
        return (f"Epoch {epoch}: the domain classifier told source from target images apart "
                f"{self.right / max(1, self.seen):.0%} of the time on this epoch's batches (50% = chance)")

    def state_dict(self) -> dict:
        return {"domain": {k: v.detach().cpu() for k, v in self.domain.state_dict().items()}}

    def load_state_dict(self, state: dict) -> None:
        if state.get("domain"):
            self.domain.load_state_dict(state["domain"])

    def record(self) -> dict:
        return {"adaptation": dict(self.adaptation)}

    def bundle_meta(self, history: list[dict]) -> dict:
        return {"adaptation": {**self.adaptation, "domain_accuracy": [h["domain_accuracy"] for h in history]}}


def _cycle(batches: Callable[[int], Iterator]) -> Iterator[torch.Tensor]:
    """Target image batches without end (a new shuffled pass each time one ends); labels dropped."""
    rounds = 0
    while True:
        rounds += 1
        empty = True
        for x, _ in batches(rounds):
            empty = False
            yield x
        if empty:
            raise TransferLabError("No target image could be read")


def _features_of(module: nn.Module, net: TransferNet) -> Callable[[torch.Tensor], torch.Tensor]:
    """Pooled features from what the engine feeds: images, or activations at the freeze boundary."""
    if isinstance(module, TrainableTop):
        def top(h: torch.Tensor) -> torch.Tensor:
            for layer in module.layers:
                h = layer(h)
            return net.backbone.forward_head(h)
        return top
    return net.features


def _measure_on_target(run_dir: Path, target_test: DatasetScan, device: str, cb: TrainCallback,
                       cancel: CancelToken | None) -> float:
    """The saved model's accuracy on labelled target images, added to its ``adaptation`` section."""
    from core.evaluation.predict import evaluate
    bundle = load_bundle(run_dir)
    report = evaluate(bundle, target_test, device=device, cancel=cancel)
    accuracy = float(report.accuracy)
    adaptation = {**bundle.meta["adaptation"], "target_test": {"folder": str(target_test.root), "accuracy": accuracy,
                                                              "images": report.num_images}}
    cb.on_status(f"Accuracy on the labelled target images in {target_test.root}: {accuracy:.1%}")
    save_bundle(run_dir, bundle.net, {**bundle.meta, "adaptation": adaptation})
    return accuracy
