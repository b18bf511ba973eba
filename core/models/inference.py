"""Running a trained network over a loader: probabilities, predictions, loss."""

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from core.base.cancel import CancelToken, check
from core.base.progress import Progress, report
from core.models.accel import ComputePlan, plain_plan, plan_for
from core.models.fold import folded_copy


@dataclass
class Outputs:
    probabilities: torch.Tensor  # (N, K) float, CPU
    labels: torch.Tensor  # (N,) long, CPU (the loader's labels; -1 where unknown)
    indices: torch.Tensor  # (N,) positions in the loader's file list (failed files are absent)
    loss: float  # mean cross-entropy where labels are known, else nan
    unknown: torch.Tensor | None = None  # (N,) "I don't know" scores (core.models.unknown_score), None without one

    @property
    def predictions(self) -> torch.Tensor:
        return self.probabilities.argmax(1)

    @property
    def accuracy(self) -> float:
        known = self.labels >= 0
        if not known.any():
            return float("nan")
        return (self.predictions[known] == self.labels[known]).float().mean().item()


def outputs_from_logits(logits: torch.Tensor, labels: list[int], indices: list[int],
                        temperature: float = 1.0) -> Outputs:
    """:class:`Outputs` of logits computed earlier (a bundle's stored held-out logits, core.training.refit)."""
    y = torch.tensor(labels, dtype=torch.long)
    scaled = logits.float() / temperature
    loss = nn.functional.cross_entropy(scaled, y).item() if len(y) else float("nan")
    return Outputs(scaled.softmax(1), y, torch.tensor(indices, dtype=torch.long), loss)


def fast_copy(net: nn.Module, device: torch.device) -> tuple[nn.Module, ComputePlan]:
    """An inference-only copy of ``net`` on ``device``: BatchNorm folded, channels-last, in fp32 (the
    same outputs within 1e-5 as the plain network and its exported files; see core.models.fold, core.models.accel)."""
    plan = plan_for(device).evaluation
    where = next(net.parameters()).device
    probe = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)).to(where)
    return plan.prepare_module(folded_copy(net, probe)), plan


@torch.inference_mode()
def run(net: nn.Module, loader: DataLoader, device: torch.device, cancel: CancelToken | None = None,
        progress: Progress | None = None, plan: ComputePlan | None = None,
        temperature: float = 1.0) -> Outputs:
    """Probabilities (``softmax(logits / temperature)``) for every readable image of ``loader``
    (``plan``: memory format and precision)."""
    plan = (plan or plain_plan(device)).evaluation
    was_training = net.training
    net.eval()
    probs, labels, indices, unknown = [], [], [], []
    scores = getattr(net, "unknown", None) is not None  # a TransferNet that can say "I don't know"
    loss_sum, loss_n, done = 0.0, 0, 0
    total = len(loader.dataset)
    for batch in loader:
        check(cancel)
        if batch is None:
            continue
        x, y, idx = batch
        with plan.autocast():
            if scores:
                logits, score = net.scored(plan.to_device(x))
                unknown.append(score.float().cpu())
            else:
                logits = net(plan.to_device(x))
        logits = logits.float().cpu() / temperature
        known = y >= 0
        if known.any():
            loss_sum += nn.functional.cross_entropy(logits[known], y[known], reduction="sum").item()
            loss_n += int(known.sum())
        probs.append(logits.softmax(1))
        labels.append(y)
        indices.append(idx)
        done += len(y)
        report(progress, done, total)
    net.train(was_training)
    if not probs:
        return Outputs(torch.empty(0, 0), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long),
                       float("nan"))
    return Outputs(torch.cat(probs), torch.cat(labels), torch.cat(indices),
                   loss_sum / loss_n if loss_n else float("nan"), torch.cat(unknown) if unknown else None)
