import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from core.base.errors import TransferLabError
from core.models.preprocess import PRESETS, Preprocessing, eval_transform, train_transform

PP = Preprocessing(32, "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 0.875)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_gives_normalised_tensors_of_the_input_size(preset):
    out = train_transform(PP, preset)(Image.new("RGB", (50, 40), (255, 0, 0)))
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    assert PRESETS[preset].description


def test_eval_transform_is_deterministic_and_normalises_with_the_model_stats():
    image = Image.new("RGB", (64, 48), (255, 255, 255))
    a, b = eval_transform(PP)(image), eval_transform(PP)(image)
    assert torch.equal(a, b) and torch.allclose(a, torch.ones_like(a))


def test_orientation_switches_remove_flips_and_rotations():
    kinds = lambda t: {type(s) for s in t.transforms}
    full = kinds(train_transform(PP, "strong"))
    assert {v2.RandomHorizontalFlip, v2.RandomVerticalFlip, v2.RandomRotation} <= full
    none = kinds(train_transform(PP, "strong", allow_flips=False, allow_rotation=False))
    assert not none & {v2.RandomHorizontalFlip, v2.RandomVerticalFlip, v2.RandomRotation}


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(TransferLabError, match="Unknown augmentation"):
        train_transform(PP, "extreme")
