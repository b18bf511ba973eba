"""Why did the model say that? Grad-CAM heatmaps (Selvaraju et al. 2017).

For CNNs the heatmap is Grad-CAM on the last feature map the classifier sees (the cut level for
"earlier-layer" models): each channel weighted by the mean gradient of the class score, summed,
negatives dropped. Vision transformers have no feature map; the documented alternative used here is
Grad-CAM on the final patch tokens laid out on their patch grid (prefix tokens such as [CLS] are
left out), which shows which patches the decision leaned on, at patch resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from core.data.images import load_rgb
from core.models.network import TransferNet, pool
from core.models.preprocess import Preprocessing, eval_transform, interpolation_mode, resize_size

OVERLAY_ALPHA = 0.45


@dataclass
class Explanation:
    heatmap: np.ndarray  # (H, W) float in [0, 1], over the model's input crop
    image: np.ndarray  # (H, W, 3) uint8: the crop the model saw
    class_index: int
    probabilities: list[float]
    method: str  # "Grad-CAM" or "Grad-CAM on patch tokens (ViT)"
    context: np.ndarray | None = None  # the whole picture at the model's scale; the crop sits in its centre

    def overlay(self) -> np.ndarray:
        return overlay(self.image, self.heatmap)

    def overlay_in_context(self) -> np.ndarray:
        """The whole picture, the heatmap on the part the model saw and the rest dimmed: a centre crop
        that cut off a bird's head shows that it did, instead of hiding it."""
        if self.context is None:
            return self.overlay()
        picture = (self.context.astype(np.float32) * DIMMED).astype(np.uint8)
        top, left = _centre_offset(self.context.shape[:2], self.image.shape[:2])
        h, w = self.image.shape[:2]
        picture[top:top + h, left:left + w] = self.overlay()
        return picture


DIMMED = 0.35  # brightness of what lies outside the model's crop


def _centre_offset(outer: tuple[int, int], inner: tuple[int, int]) -> tuple[int, int]:
    """Where torchvision's CenterCrop takes ``inner`` from ``outer`` (top, left)."""
    return int(round((outer[0] - inner[0]) / 2.0)), int(round((outer[1] - inner[1]) / 2.0))


def _feature_map_and_head(net: TransferNet, x: torch.Tensor):
    """The last spatial features (no grad) and a function from them to logits."""
    backbone = net.backbone
    inner = None  # a classifier on final + earlier features: the earlier part held fixed, the map explains the rest
    with torch.no_grad():
        if net.with_level is not None:  # both from one pass, as TransferNet.features computes them
            feats, (level,) = backbone.forward_intermediates(x, indices=[net.with_level], norm=False)
            inner = pool(level)
        elif net.cut_index is None:
            feats = backbone.forward_features(x)
        else:
            (feats,) = backbone.forward_intermediates(x, indices=[net.cut_index], intermediates_only=True)
    if net.cut_index is None:
        head = lambda f: net.head(backbone.forward_head(f) if inner is None  # noqa: E731
                                  else torch.cat([backbone.forward_head(f), inner], dim=1))
    else:
        head = lambda f: net.head(pool(f))  # noqa: E731
    return feats, head


def _as_grid(backbone, tokens: torch.Tensor) -> torch.Tensor:
    """ViT tokens (B, N, C) -> (B, C, gh, gw) on the patch grid, prefix tokens dropped."""
    prefix = int(getattr(backbone, "num_prefix_tokens", 1))
    gh, gw = backbone.patch_embed.grid_size
    patches = tokens[:, prefix:prefix + gh * gw]
    return patches.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], gh, gw)


def gradcam(net: TransferNet, x: torch.Tensor, target: int | None = None) -> tuple[np.ndarray, int, list[float], str]:
    """Heatmap (input size, values 0-1) for ``target`` (default: the predicted class) on one image ``x``."""
    net.eval()
    feats, head = _feature_map_and_head(net, x)
    feats = feats.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = head(feats)
        index = int(logits[0].argmax()) if target is None else int(target)
        logits[0, index].backward()
    grads = feats.grad
    method = "Grad-CAM"
    if feats.ndim == 3:  # transformer tokens
        feats, grads = _as_grid(net.backbone, feats.detach()), _as_grid(net.backbone, grads)
        method = "Grad-CAM on patch tokens (ViT)"
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * feats.detach()).sum(1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    cam = cam / cam.max() if cam.max() > 0 else cam
    return cam.numpy(), index, logits[0].detach().softmax(0).tolist(), method


def model_crop(image: Image.Image, pp: Preprocessing) -> Image.Image:
    """The part of the picture the model sees: resized and centre-cropped like its input."""
    crop = v2.Compose([v2.Resize(resize_size(pp), interpolation=interpolation_mode(pp.interpolation),
                                 antialias=True), v2.CenterCrop(pp.input_size)])
    return crop(image)


def explain(net: TransferNet, pp: Preprocessing, path: Path, target: int | None = None,
            temperature: float = 1.0) -> Explanation:
    image = load_rgb(path)
    x = eval_transform(pp)(image).unsqueeze(0)
    heatmap, index, probs, method = gradcam(net, x, target)
    if temperature != 1.0:
        with torch.no_grad():
            probs = (torch.tensor(probs).log() / temperature).softmax(0).tolist()
    resized = v2.Resize(resize_size(pp), interpolation=interpolation_mode(pp.interpolation), antialias=True)(image)
    return Explanation(heatmap, np.asarray(model_crop(image, pp)), index, probs, method, np.asarray(resized))


def colormap(values: np.ndarray) -> np.ndarray:
    """0-1 values to RGB uint8 on a blue-cyan-yellow-red scale (like 'jet', without the dark ends)."""
    stops = np.array([[0.0, 0, 0, 200], [0.35, 0, 200, 255], [0.65, 255, 230, 0], [1.0, 230, 20, 20]])
    v = np.clip(values, 0, 1)[..., None]
    out = np.empty(values.shape + (3,), dtype=np.float32)
    for channel in range(3):
        out[..., channel] = np.interp(v[..., 0], stops[:, 0], stops[:, channel + 1])
    return out.astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """The heatmap blended over the image; weak evidence shows the image almost untouched."""
    if heatmap.shape != image.shape[:2]:
        heatmap = np.asarray(Image.fromarray((heatmap * 255).astype(np.uint8)).resize(
            (image.shape[1], image.shape[0]), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    weight = (alpha * np.clip(heatmap, 0, 1) ** 0.7)[..., None]
    return (image.astype(np.float32) * (1 - weight) + colormap(heatmap).astype(np.float32) * weight).astype(np.uint8)
