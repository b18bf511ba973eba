"""Grad-CAM: the right shape, and it points at the evidence (a known corner of a synthetic image)."""

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from core.data.dataset import scan_dataset
from core.evaluation.explain import explain, gradcam, overlay
from core.models.bundle import load_bundle
from core.models.network import TransferNet
from core.training.settings import TrainSettings
from core.training.trainer import train


def corner_image(kind: int, seed: int, size: int = 128) -> Image.Image:
    """Textured noise everywhere; the class shows only as a coloured square in the top-left corner."""
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size, size, 3)) * 120 + 60).astype(np.uint8)
    side = size // 6
    y, x = rng.integers(4, size // 9, 2)
    pixels[y:y + side, x:x + side] = [(230, 30, 30), (30, 60, 230)][kind]
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def corner_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("corner")
    for kind, name in enumerate(["red", "blue"]):
        (root / "data" / name).mkdir(parents=True)
        for i in range(16):
            corner_image(kind, 100 * kind + i).save(root / "data" / name / f"{i}.png")
    train(scan_dataset(root / "data"), TrainSettings(image_size=128, epochs=6, batch_size=8), root / "run")
    return root


def quadrant_means(heatmap: np.ndarray) -> list[float]:
    h, w = heatmap.shape
    return [float(heatmap[:h // 2, :w // 2].mean()), float(heatmap[:h // 2, w // 2:].mean()),
            float(heatmap[h // 2:, :w // 2].mean()), float(heatmap[h // 2:, w // 2:].mean())]


@pytest.mark.parametrize("kind, name", [(0, "red"), (1, "blue")])
def test_gradcam_highlights_the_corner_that_holds_the_evidence(corner_model, kind, name):
    bundle = load_bundle(corner_model / "run")
    path = corner_model / f"test-{name}.png"
    corner_image(kind, 5000 + kind).save(path)
    e = explain(bundle.net, bundle.preprocessing, path, temperature=bundle.temperature)
    assert bundle.classes[e.class_index] == name and e.method == "Grad-CAM"
    top_left, *others = quadrant_means(e.heatmap)
    assert top_left > 2 * max(others), quadrant_means(e.heatmap)
    peak_y, peak_x = np.unravel_index(e.heatmap.argmax(), e.heatmap.shape)
    assert peak_y < 64 and peak_x < 64


def test_heatmap_and_overlay_shapes(corner_model):
    bundle = load_bundle(corner_model / "run")
    path = corner_model / "wide.png"
    corner_image(0, 77, size=200).resize((300, 200)).save(path)
    e = explain(bundle.net, bundle.preprocessing, path)
    assert e.heatmap.shape == (128, 128) and e.heatmap.dtype == np.float32
    assert 0.0 <= e.heatmap.min() and e.heatmap.max() == pytest.approx(1.0)
    assert e.image.shape == (128, 128, 3) and e.overlay().shape == (128, 128, 3) and e.overlay().dtype == np.uint8
    assert sum(e.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert overlay(np.zeros((40, 60, 3), np.uint8), np.ones((4, 6), np.float32)).shape == (40, 60, 3)
    # the whole wide picture, the model's centre crop with its heatmap, the sides it never saw dimmed
    whole = e.overlay_in_context()
    assert whole.shape[0] == e.context.shape[0] and whole.shape[1] > whole.shape[0] == 146
    left = (whole.shape[1] - 128) // 2 + 1
    assert np.array_equal(whole[9:9 + 128, left:left + 128], e.overlay())
    assert whole[:, :left].mean() < e.context[:, :left].mean() * 0.5 + 1


def test_gradcam_for_a_cut_network_and_for_a_vision_transformer():
    cut = TransferNet(timm.create_model("test_efficientnet"), 3, cut_index=2)
    heat, index, probs, method = gradcam(cut, torch.randn(1, 3, 64, 64))
    assert heat.shape == (64, 64) and 0 <= index < 3 and method == "Grad-CAM"
    vit = TransferNet(timm.create_model("test_vit", img_size=64), 2)
    heat, _, _, method = gradcam(vit, torch.randn(1, 3, 64, 64), target=1)
    assert heat.shape == (64, 64) and "patch tokens" in method
