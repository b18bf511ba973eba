"""The classifier we train: a pretrained timm backbone (optionally cut early) plus a new linear head.

Layer groups come from timm's ``group_matcher``; freeze depth counts how many
groups, from the head down, are trained.
"""

import re
from dataclasses import dataclass

import timm
import torch
from torch import nn

from core.base.errors import TransferLabError


class TransferNet(nn.Module):
    """``cut_index=None``: pooled final features; else pooled features of intermediate level ``cut_index``.
    ``with_level`` (uncut networks only): the pooled final features followed by level ``with_level``'s, from
    one forward pass (the earlier level is on the way to the final one), for one classifier on both."""

    def __init__(self, backbone: nn.Module, num_classes: int, cut_index: int | None = None,
                 with_level: int | None = None) -> None:
        super().__init__()
        self.cut_index, self.with_level = cut_index, with_level
        if with_level is not None and cut_index is not None:
            raise TransferLabError("A network cut at an earlier layer has no final features to add that layer's to")
        if cut_index is None:
            backbone.reset_classifier(0)
            dim = final_width(backbone)
            if with_level is not None:
                dim += _level(backbone, with_level)["num_chs"]
        else:
            dim = _level(backbone, cut_index)["num_chs"]
            backbone.prune_intermediate_layers(indices=[cut_index], prune_norm=True, prune_head=True)
        self.backbone = backbone
        self.head = nn.Linear(dim, num_classes)
        self.unknown: nn.Module | None = None  # "I don't know" (core.models.unknown_score), set when trained

    def scored(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, unknown score or None) from one pass through the backbone."""
        f = self.features(x)
        return self.head(f), (self.unknown(f) if self.unknown is not None else None)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_level is not None:
            return final_and_level(self.backbone, x, self.with_level)
        if self.cut_index is None:
            return self.backbone(x)
        (f,) = self.backbone.forward_intermediates(x, indices=[self.cut_index], intermediates_only=True)
        return pool(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def final_width(backbone: nn.Module) -> int:
    """How many numbers the backbone's pooled final features have: timm's ``head_hidden_size`` where the head
    adds a layer of its own (mobilenetv3_large_100: 1,280 after the 960 channels of ``num_features``)."""
    return getattr(backbone, "head_hidden_size", None) or backbone.num_features


def pool(f: torch.Tensor) -> torch.Tensor:
    """An intermediate level's output, average-pooled: over space (CNN maps) or over tokens (ViT)."""
    return f.mean(dim=(2, 3)) if f.ndim == 4 else f.mean(dim=1)


def final_and_level(backbone: nn.Module, x: torch.Tensor, level: int) -> torch.Tensor:
    """An uncut backbone's pooled final features followed by level ``level``'s pooled output, in one pass."""
    last, (inner,) = backbone.forward_intermediates(x, indices=[level], norm=False)
    return torch.cat([backbone.forward_head(last), pool(inner)], dim=1)


def _level(backbone: nn.Module, index: int) -> dict:
    levels = cut_levels(backbone)
    if not 0 <= index < len(levels):
        raise TransferLabError(f"Cut level {index} does not exist; this model has levels 0-{len(levels) - 1}")
    return levels[index]


def cut_levels(backbone: nn.Module) -> list[dict]:
    """The intermediate levels a backbone can be cut at (timm feature_info)."""
    info = getattr(backbone, "feature_info", None)
    if not info or not hasattr(backbone, "forward_intermediates"):
        return []
    return list(info)


def default_cut_index(backbone: nn.Module) -> int | None:
    """An earlier level where features are still fairly generic: about two thirds of the way up."""
    levels = cut_levels(backbone)
    if len(levels) < 2:
        return None
    return max(0, min(len(levels) - 2, round(0.66 * (len(levels) - 1))))


@dataclass(frozen=True)
class LayerGroup:
    index: int  # 0 = closest to the input
    name: str
    param_names: tuple[str, ...]
    num_params: int


def _group_name(names: list[str]) -> str:
    prefixes: list[str] = []
    for n in names:
        parts = n.split(".")[:-1] or n.split(".")
        keep = []
        for p in parts:
            keep.append(p)
            if p.isdigit():
                break
        prefix = ".".join(keep[:3])
        if prefix not in prefixes:
            prefixes.append(prefix)
    stems = {p.rsplit(".", 1)[0] for p in prefixes if p.rsplit(".", 1)[-1].isdigit()}
    if len(prefixes) > 1 and len(stems) == 1 and all(p.rsplit(".", 1)[-1].isdigit() for p in prefixes):
        return stems.pop()
    if len(prefixes) > 3:
        return f"{prefixes[0]} … {prefixes[-1]}"
    return " + ".join(prefixes)


def groups_up_to(groups: list[LayerGroup], module: str) -> int | None:
    """How many groups, counted from the input, reach up to the one holding ``module``'s parameters
    (where a network cut after ``module`` ends); None when no group holds it."""
    for g in groups:
        if any(n == module or n.startswith(module + ".") for n in g.param_names):
            return g.index + 1
    return None


def layer_groups(net: "TransferNet | nn.Module") -> list[LayerGroup]:
    """Backbone parameter groups, input to output. The classifier (ours or timm's ImageNet
    head) is not included. Accepts a TransferNet or a bare timm model."""
    backbone = net.backbone if isinstance(net, TransferNet) else net
    head_ids = {id(p) for p in backbone.get_classifier().parameters()} if hasattr(backbone, "get_classifier") else set()
    params = {n: p for n, p in backbone.named_parameters() if id(p) not in head_ids}
    try:
        matcher = backbone.group_matcher(coarse=True)
        grouped = timm.models.group_parameters(backbone, matcher)
        ordered = [names for _, names in sorted(grouped.items())]
    except (AttributeError, NotImplementedError):
        ordered = []
        for child_name, child in backbone.named_children():
            names = [f"{child_name}.{n}" for n, _ in child.named_parameters()]
            if names:
                ordered.append(names)
    groups = []
    for names in ordered:
        names = [n for n in names if n in params]
        if not names:
            continue
        count = sum(params[n].numel() for n in names)
        groups.append(LayerGroup(len(groups), _group_name(names), tuple(names), count))
    return groups


def top_group_names(groups: list[LayerGroup], depth: int) -> set[str]:
    """Backbone parameter names of the top ``depth`` groups (checked: 0 to all groups)."""
    if not 0 <= depth <= len(groups):
        raise TransferLabError(f"Freeze depth must be between 0 (head only) and {len(groups)} (all layers); got {depth}")
    return {n for g in groups[len(groups) - depth:] for n in g.param_names} if depth else set()


@dataclass(frozen=True)
class FreezeSummary:
    freeze_depth: int  # number of backbone groups trained, counted from the head
    num_groups: int
    trainable_params: int
    total_params: int
    head_params: int


def apply_freeze_depth(net: TransferNet, depth: int) -> FreezeSummary:
    """Train the head plus the top ``depth`` backbone groups; everything else is frozen."""
    groups = layer_groups(net)
    trainable = top_group_names(groups, depth)
    for name, p in net.backbone.named_parameters():
        p.requires_grad_(name in trainable)
    for p in net.head.parameters():
        p.requires_grad_(True)
    total = sum(p.numel() for p in net.parameters())
    train = sum(p.numel() for p in net.parameters() if p.requires_grad)
    head = sum(p.numel() for p in net.head.parameters())
    return FreezeSummary(depth, len(groups), train, total, head)


def set_train_mode(net: TransferNet) -> None:
    """Train mode, except frozen parts: a fully frozen backbone runs in eval mode, and
    BatchNorm layers whose parameters are frozen keep their running statistics."""
    net.train()
    backbone_params = list(net.backbone.parameters())
    if not any(p.requires_grad for p in backbone_params):
        net.backbone.eval()
        return
    for module in net.backbone.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            own = list(module.parameters(recurse=False))
            if own and not any(p.requires_grad for p in own):
                module.eval()


def trainable_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """What training changes: trainable parameters, and the buffers (BatchNorm statistics) of
    modules that own trainable parameters. Everything else is the pretrained weights, as loaded."""
    return _state_of(net, lambda p: p.requires_grad)


def depth_state(net: TransferNet, depth: int) -> dict[str, torch.Tensor]:
    """:func:`trainable_state` as if the top ``depth`` groups and the head were trainable, whatever
    is trainable now: what a run that unfreezes groups in stages may have changed."""
    names = top_group_names(layer_groups(net), depth)
    keep = {id(p) for n, p in net.backbone.named_parameters() if n in names} | {id(p) for p in net.head.parameters()}
    return _state_of(net, lambda p: id(p) in keep)


def _state_of(net: nn.Module, selected) -> dict[str, torch.Tensor]:
    state = {}
    for prefix, module in net.named_modules():
        own = list(module.named_parameters(recurse=False))
        if not any(selected(p) for _, p in own):
            continue
        dot = f"{prefix}." if prefix else ""
        state.update({dot + n: p.detach().cpu().clone() for n, p in own if selected(p)})
        state.update({dot + n: b.detach().cpu().clone() for n, b in module.named_buffers(recurse=False)})
    return state


def optimizer_param_groups(net: TransferNet, head_lr: float, backbone_lr: float, weight_decay: float,
                           backbone_weight_decay: float | None = None) -> list[dict]:
    """Discriminative learning rates: the new head learns faster than pretrained layers.
    Only trainable parameters are included (build the optimizer after freezing).
    ``backbone_weight_decay`` (default: ``weight_decay``) is 0 under L2-SP, which pulls them elsewhere."""
    head = [p for p in net.head.parameters() if p.requires_grad]
    body = [p for p in net.backbone.parameters() if p.requires_grad]
    groups = [{"params": head, "lr": head_lr, "weight_decay": weight_decay, "name": "head"}]
    if body:
        decay = weight_decay if backbone_weight_decay is None else backbone_weight_decay
        groups.append({"params": body, "lr": backbone_lr, "weight_decay": decay, "name": "backbone"})
    return groups


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")
