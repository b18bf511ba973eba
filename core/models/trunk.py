"""Split a network at the freeze boundary: a frozen prefix run once, a trainable top run every epoch.

Many timm CNNs compute ``forward_features`` as a plain chain of their top-level modules
(``conv_stem → bn1 → blocks.0 … blocks.6 → conv_head → bn2`` for EfficientNet, ``conv1 … layer4``
for ResNet, ``stem → stages.0 … stages.3`` for ConvNeXt). For those, the activations at the
freeze boundary can be computed once and cached, and each epoch runs only the layers above.
The chain is found by composing the modules and checking, numerically, that the result equals
``forward_features``; models whose forward does more than chain modules (e.g. ViT's position
embeddings) are not split and simply train on the full network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.models.network import TransferNet

PROBE_SIZE = 64
TOLERANCE = 1e-4


def _candidates(backbone: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level children in order, with Sequential containers opened one level (blocks.0, …)."""
    out: list[tuple[str, nn.Module]] = []
    for name, child in backbone.named_children():
        if isinstance(child, nn.Sequential) and len(child) > 0:
            out.extend((f"{name}.{sub}", m) for sub, m in child.named_children())
        else:
            out.append((name, child))
    return out


@torch.no_grad()
def sequential_trunk(backbone: nn.Module, input_size: int = PROBE_SIZE) -> list[tuple[str, nn.Module]] | None:
    """The modules whose chain equals ``backbone.forward_features``, or None if there is none."""
    if not hasattr(backbone, "forward_features"):
        return None
    was_training = backbone.training
    backbone.eval()
    try:
        device = next(backbone.parameters()).device
        x = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0)).to(device)
        try:
            target = backbone.forward_features(x)
        except Exception:  # noqa: BLE001 - any model that cannot take the probe is not split
            return None
        chain: list[tuple[str, nn.Module]] = []
        matched: list[tuple[str, nn.Module]] | None = None
        h = x
        classifier = backbone.get_classifier() if hasattr(backbone, "get_classifier") else None
        for name, module in _candidates(backbone):
            if module is classifier:
                break
            try:
                h = module(h)
            except Exception:  # noqa: BLE001 - the chain goes no further
                break
            chain.append((name, module))
            if h.shape == target.shape and torch.allclose(h, target, atol=TOLERANCE, rtol=TOLERANCE):
                # The *last* match: freshly initialised blocks can be near-identities (zero-initialised
                # residual branches), so an early match may only be a coincidence.
                matched = list(chain)
        return matched
    finally:
        backbone.train(was_training)


@dataclass
class TrunkSplit:
    prefix: list[tuple[str, nn.Module]]  # frozen, run once
    top: list[tuple[str, nn.Module]]  # trained every epoch

    @property
    def boundary(self) -> str:
        return self.prefix[-1][0]


def split_at_freeze_boundary(net: TransferNet) -> TrunkSplit | None:
    """Where the frozen part of ``net`` ends, if the backbone is a chain and some prefix is frozen.

    Frozen means: no parameter of the module requires grad. None for cut networks (their features
    are already cached whole), for fully trained and for fully frozen backbones.
    """
    if net.cut_index is not None:
        return None
    chain = sequential_trunk(net.backbone)
    if not chain:
        return None
    first_trained = next((i for i, (_, m) in enumerate(chain) if any(p.requires_grad for p in m.parameters())),
                         None)
    if first_trained is None or first_trained == 0:
        return None
    return TrunkSplit(chain[:first_trained], chain[first_trained:])


class FrozenPrefix(nn.Module):
    """The frozen bottom of the backbone; always in eval mode."""

    def __init__(self, split: TrunkSplit) -> None:
        super().__init__()
        self.layers = nn.ModuleList(m for _, m in split.prefix)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class TrainableTop(nn.Module):
    """The layers above the boundary, the backbone's pooling (``forward_head``) and our head.

    Shares its modules with the :class:`TransferNet`, so training it trains the network."""

    def __init__(self, net: TransferNet, split: TrunkSplit) -> None:
        super().__init__()
        self.layers = nn.ModuleList(m for _, m in split.top)
        self._net = [net]  # not a submodule: its parameters are reached through the shared modules
        self.head = net.head

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            h = layer(h)
        return self.head(self._net[0].backbone.forward_head(h))
