"""Fold BatchNorm into the convolution before it, for frozen networks that only run inference.

A frozen BatchNorm in eval mode is an affine map per channel, so ``bn(conv(x))`` equals one
convolution with rescaled weights and a bias: the BatchNorm pass (a fifth of EfficientNet-Lite0's
CPU inference time) disappears. Which convolution feeds which BatchNorm is *observed*, by running
the network once with hooks, not guessed from names; the folded copy is then checked against the
original on the same input, and not used if it differs. The original network is never changed.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.clone import clone_module

TOLERANCE = 1e-4


def _bn_types():
    types = {nn.BatchNorm2d: "plain"}
    try:
        from timm.layers import BatchNormAct2d
        types[BatchNormAct2d] = "act"
    except ImportError:  # pragma: no cover - timm is a dependency
        pass
    return types


def _replacement(bn: nn.Module, kind: str) -> nn.Module:
    """What is left of ``bn`` once its normalisation lives in the convolution."""
    if kind == "plain":
        return nn.Identity()
    return nn.Sequential(bn.drop, bn.act)  # timm's BatchNormAct2d: normalise, dropout (eval: none), activation


@torch.no_grad()
def _fold_into(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1 / torch.sqrt(bn.running_var + bn.eps)
    shift = (bn.bias if bn.affine else 0) - bn.running_mean * scale
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.bias = nn.Parameter(bias * scale + shift, requires_grad=False)


@torch.no_grad()
def _conv_bn_pairs(model: nn.Module, probe: torch.Tensor) -> list[tuple[str, str, str]]:
    """(conv name, bn name, bn kind) where the BatchNorm's input is exactly the convolution's output.

    If that output were also read elsewhere (a residual branch), folding would change it there too;
    the numeric check in :func:`folded_copy` catches that."""
    types = _bn_types()
    produced: dict[int, tuple[str, torch.Tensor]] = {}  # id(output) -> (conv name, output, kept alive)
    pairs: list[tuple[str, str, str]] = []
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(
                lambda m, args, out, name=name: produced.__setitem__(id(out), (name, out))))
        elif type(module) in types and module.track_running_stats and module.running_var is not None:
            hooks.append(module.register_forward_pre_hook(
                lambda m, args, name=name: pairs.append((produced.get(id(args[0]), (None,))[0], name,
                                                         types[type(m)]))))
    try:
        model(probe)
    finally:
        for hook in hooks:
            hook.remove()
    return [(c, b, k) for c, b, k in pairs if c is not None]


def _set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, module)


# A folded copy's attribute of this name: {convolution's name: (gamma, beta)} of the BatchNorm folded into it,
# so that what the BatchNorm saw can still be read off the convolution's output: (out - beta) / gamma is
# (in - running_mean) / running_std (core.methods.advisor measures that shift from ImageNet's statistics)
FOLDED_BATCHNORMS = "folded_batchnorms"


@torch.no_grad()
def folded_copy(model: nn.Module, probe: torch.Tensor) -> nn.Module:
    """An eval-mode copy of ``model`` with BatchNorms folded into their convolutions, or an
    unchanged eval-mode copy when folding does not reproduce ``model``'s output on ``probe``."""
    original = model.training
    model.eval()
    try:
        expected = model(probe)
        folded = clone_module(model)
        pairs = _conv_bn_pairs(folded, probe)
        affine: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for conv_name, bn_name, kind in pairs:
            conv, bn = folded.get_submodule(conv_name), folded.get_submodule(bn_name)
            affine[conv_name] = ((bn.weight if bn.affine else torch.ones_like(bn.running_mean)).detach().float().cpu(),
                                 (bn.bias if bn.affine else torch.zeros_like(bn.running_mean)).detach().float().cpu())
            _fold_into(conv, bn)
            _set_module(folded, bn_name, _replacement(bn, kind))
        folded.eval()
        if pairs and torch.allclose(folded(probe), expected, atol=TOLERANCE, rtol=TOLERANCE):
            setattr(folded, FOLDED_BATCHNORMS, affine)
            return folded
        return clone_module(model).eval()
    finally:
        model.train(original)
