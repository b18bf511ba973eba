"""Augmentation examples on real images: shapes, determinism, skipped files, untouched global RNG."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from core.base.cancel import CancelToken
from core.base.errors import Cancelled
from core.data.dataset import make_split, scan_dataset
from core.training.preview import augmentation_examples
from core.training.settings import TrainSettings
from tests.datagen import make_class_folder


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    root = make_class_folder(tmp_path_factory.mktemp("preview") / "d", ["a", "b", "c"], per_class=6, size=80)
    return scan_dataset(root)


def test_examples_have_the_model_input_size_and_are_uint8_rgb(scan):
    out = augmentation_examples(scan, TrainSettings(image_size=64, augmentation="standard"), count=6)
    assert len(out) == 6
    for a in out:
        assert isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.shape == (64, 64, 3)
        assert a.flags["C_CONTIGUOUS"] and a.std() > 0


def test_none_preset_is_deterministic_across_seeds(scan):
    settings = TrainSettings(image_size=64, augmentation="none")
    a = augmentation_examples(scan, settings, count=4, seed=0)
    b = augmentation_examples(scan, settings, count=4, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_strong_preset_differs_between_seeds_but_repeats_for_the_same_seed(scan):
    settings = TrainSettings(image_size=64, augmentation="strong")
    a = augmentation_examples(scan, settings, count=4, seed=0)
    again = augmentation_examples(scan, settings, count=4, seed=0)
    b = augmentation_examples(scan, settings, count=4, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, again))
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))


def test_examples_are_spread_over_classes_and_leave_the_global_rng_alone(scan):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    out = augmentation_examples(scan, TrainSettings(image_size=64, augmentation="none"), count=3)
    assert torch.equal(torch.rand(3), expected)
    # Each class has its own background colour: the three examples (one per class) all differ.
    colours = [tuple(np.median(a.reshape(-1, 3), axis=0)) for a in out]
    assert len(set(colours)) == 3


def test_unreadable_files_are_skipped(tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=4, size=48)
    scan = scan_dataset(root)
    settings = TrainSettings(image_size=48, augmentation="none")
    train = make_split(scan, settings.val_fraction, settings.seed).train
    for item in train[:2]:  # broken after the scan: the preview must cope
        item.path.write_bytes(b"not an image any more")
    out = augmentation_examples(scan, settings, count=4)
    assert len(out) == 4 and all(a.shape == (48, 48, 3) for a in out)
    for item in train:
        item.path.write_bytes(b"")
    assert augmentation_examples(scan, settings, count=4) == []


def test_smaller_requests_and_cancel(scan):
    settings = TrainSettings(image_size=64)
    assert augmentation_examples(scan, settings, count=0) == []
    assert len(augmentation_examples(scan, replace(settings, augmentation="light"), count=2)) == 2
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        augmentation_examples(scan, settings, count=2, cancel=token)
