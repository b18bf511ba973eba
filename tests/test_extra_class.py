"""Images of none of the classes used as a class of their own (core.data.extra_class): read where they are,
trained on like any class, and neither folder written to."""

import json

import numpy as np
import pytest
from PIL import Image

from core.base.errors import DatasetError
from core.data.dataset import make_split, scan_dataset
from core.data.extra_class import EXTRA_CLASS_NAME, with_extra_class
from core.evaluation.predict import predict
from core.models.bundle import load_bundle
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder, make_presplit_folder, tree_fingerprint


def _noise_folder(path, n: int):
    path.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path / f"{i}.png")
    (path / "notes.txt").write_text("not an image")
    return path


def test_a_folder_of_no_class_trains_as_one_more_class_and_nothing_is_written(tmp_path):
    data = make_class_folder(tmp_path / "data", ["circles", "squares"], per_class=10, size=48)
    other = _noise_folder(tmp_path / "other", 10)
    before, other_before = tree_fingerprint(data), tree_fingerprint(other)
    scan = with_extra_class(scan_dataset(data), other)
    assert scan.classes == ["circles", "squares", EXTRA_CLASS_NAME] and scan.root == data
    assert scan.class_counts() == {"circles": 10, "squares": 10, EXTRA_CLASS_NAME: 10}
    assert any(s.path.name == "notes.txt" for s in scan.skipped)
    assert len(make_split(scan, 0.2).val) == 6  # stratified: two of each class
    train(scan, TrainSettings(image_size=48, epochs=1, batch_size=8), tmp_path / "run")
    bundle = load_bundle(tmp_path / "run")
    assert bundle.classes == ["circles", "squares", EXTRA_CLASS_NAME]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    extra = [rel for part in record["split"].values() for rel, label in part if label == 2]
    assert len(extra) == 10 and all(rel.startswith("..") for rel in extra)  # found again on resume
    labels = [r["label"] for r in predict(bundle, [other])]
    assert labels.count(EXTRA_CLASS_NAME) >= 8
    assert tree_fingerprint(data) == before and tree_fingerprint(other) == other_before


def test_a_pre_split_dataset_gets_a_fifth_of_them_for_validation(tmp_path):
    data = make_presplit_folder(tmp_path / "data", ["circles", "squares"], train=6, val=2, test=0)
    scan = with_extra_class(scan_dataset(data), _noise_folder(tmp_path / "other", 10), "empty tray")
    counts = scan.split_counts()
    assert counts["train"]["empty tray"] == 8 and counts["val"]["empty tray"] == 2


def test_a_clear_message_for_a_name_taken_a_folder_inside_the_dataset_or_no_images(tmp_path):
    data = make_class_folder(tmp_path / "data", ["circles", "squares"], per_class=4, size=48)
    scan = scan_dataset(data)
    with pytest.raises(DatasetError, match="already has a class named “Circles”"):
        with_extra_class(scan, _noise_folder(tmp_path / "other", 2), "Circles")
    with pytest.raises(DatasetError, match="overlaps the dataset folder"):
        with_extra_class(scan, data / "circles")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="No readable images"):
        with_extra_class(scan, tmp_path / "empty")
