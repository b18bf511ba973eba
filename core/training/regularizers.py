"""Conservative fine-tuning: L2-SP (Li, Grandvalet & Davoine, ICML 2018).

The penalty ``alpha/2 * ||w - w0||^2`` keeps the fine-tuned backbone weights ``w`` near their
pretrained values ``w0`` (instead of weight decay, which pulls them towards zero), and
``beta/2 * ||v||^2`` is a plain L2 penalty on the new head ``v``. ``w0`` is a copy, on the device,
of the backbone parameters the run will train at some point; only those trainable at the time
count, so it works the same whichever engine runs the network (a :class:`core.models.trunk.TrainableTop`
shares its parameters with the network). The penalty is computed in fp32, outside autocast.
"""

from __future__ import annotations

import torch

from core.models.network import TransferNet, layer_groups, top_group_names
from core.training.settings import TrainSettings


class L2SP:
    def __init__(self, net: TransferNet, depth: int, alpha: float, beta: float) -> None:
        """Take ``w0`` now (call before training): the top ``depth`` backbone groups as they are."""
        names = top_group_names(layer_groups(net), depth) if alpha > 0 else set()
        self.alpha, self.beta = float(alpha), float(beta)
        self.pairs = [(p, p.detach().clone()) for n, p in net.backbone.named_parameters() if n in names]
        self.head = list(net.head.parameters())

    def penalty(self) -> torch.Tensor:
        """``alpha/2 * ||w - w0||^2`` over trainable backbone weights + ``beta/2 * ||head||^2``, differentiable."""
        terms = []
        if self.alpha > 0:
            terms += [0.5 * self.alpha * (p.float() - p0.float()).pow(2).sum() for p, p0 in self.pairs
                      if p.requires_grad]
        if self.beta > 0:
            terms += [0.5 * self.beta * p.float().pow(2).sum() for p in self.head if p.requires_grad]
        if not terms:
            return torch.zeros((), device=self.head[0].device)
        return torch.stack(terms).sum()

    @torch.no_grad()
    def distance(self) -> float:
        """The L2 distance of the tracked backbone weights from their pretrained values."""
        if not self.pairs:
            return 0.0
        return float(torch.stack([(p.float() - p0.float()).pow(2).sum() for p, p0 in self.pairs]).sum().sqrt())


def l2sp_for(net: TransferNet, settings: TrainSettings) -> L2SP | None:
    """The run's L2-SP penalty, or None when both strengths are 0."""
    if settings.l2sp_alpha <= 0 and settings.l2sp_beta <= 0:
        return None
    return L2SP(net, settings.freeze_depth, settings.l2sp_alpha, settings.l2sp_beta)

