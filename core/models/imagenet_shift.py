"""How far images lie from ImageNet inside a pretrained network: the statistics-shift signal of the
advisor's similarity measure (core.methods.quadrants has the rule and its calibration).

Mean |mu - running_mean| / running_std of every BatchNorm layer's input over the images seen, averaged
over channels and layers. On a network whose BatchNorms were folded into their convolutions
(core.models.fold) the same number is read off each such convolution's output ``z``: there
(mean(z) - beta) / gamma equals (mu - running_mean) / running_std exactly, so the measurement can run on
the folded network the feature cache uses.
"""

from __future__ import annotations

import statistics

import torch

from core.models.fold import FOLDED_BATCHNORMS


class StatisticsShift:
    """Hooks on ``model`` that gather per-channel sums while it runs; :meth:`value` gives the shift."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.reference: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # name -> (centre, scale) per channel
        self.hooks = []
        folded = getattr(model, FOLDED_BATCHNORMS, {})
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
                self.reference[name] = (module.running_mean.detach().float().cpu(),
                                        (module.running_var.detach().float().cpu() + module.eps).sqrt())
                self.hooks.append(module.register_forward_hook(
                    lambda m, inputs, output, name=name: self._add(name, inputs[0])))
            elif name in folded:
                gamma, beta = folded[name]
                self.reference[name] = (beta, gamma)  # (z - beta) / gamma, as (x - mean) / std above
                self.hooks.append(module.register_forward_hook(
                    lambda m, inputs, output, name=name: self._add(name, output)))

    def _add(self, name: str, x: torch.Tensor) -> None:
        x = x.float()
        dims = [d for d in range(x.dim()) if d != 1]
        self.sums[name] = self.sums.get(name, 0) + x.sum(dims).cpu()
        self.counts[name] = self.counts.get(name, 0) + x.numel() // x.shape[1]

    def close(self) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks.clear()

    def value(self) -> float | None:
        """The shift (None when the network has no BatchNorm layers, or nothing ran)."""
        shifts = []
        for name, (centre, scale) in self.reference.items():
            if name not in self.sums:
                continue
            keep = scale.abs() > 1e-12  # a channel a zero gamma silenced says nothing about its input
            mean = self.sums[name] / self.counts[name]
            shifts.append(((mean - centre).abs()[keep] / scale.abs()[keep]).mean().item())
        return float(statistics.fmean(shifts)) if shifts else None
