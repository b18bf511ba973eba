"""Dataset health on the torture dataset: the exact skipped-file report, duplicates, leakage, imbalance,
and that training, evaluation and prediction complete on the good files without touching the folder."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from core.data.dataset import make_split, scan_dataset
from core.data.health import IMBALANCE_RATIO, class_weights, conflict_lines, duplicate_groups, health_lines
from core.data.images import ImageInfo
from core.data.items import ImageItem
from core.evaluation.predict import evaluate, predict
from core.models.bundle import META_FILE, load_bundle
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder, tree_fingerprint
from tests.torture import (EXPECTED_DUPLICATES, GOOD_COUNTS, LONG_DIR, expected_skipped, make_torture_dataset,
                           reason_matches)


@pytest.fixture(scope="module")
def torture(tmp_path_factory):
    return make_torture_dataset(tmp_path_factory.mktemp("t") / "my pictures")


def _rel(paths, root):
    return tuple(str(Path(p).relative_to(root)) for p in paths)


def test_every_bad_file_is_skipped_with_its_reason_and_junk_is_ignored(torture):
    scan = scan_dataset(torture)
    got = {str(s.path.relative_to(torture)): s.reason for s in scan.skipped}
    expected = expected_skipped()
    assert got.keys() == expected.keys()
    assert all(reason_matches(got[k], expected[k]) for k in got), got
    assert scan.class_counts() == GOOD_COUNTS and scan.problems() == []
    names = {i.path.name for i in scan.all_items()}
    assert {"café ☕ crème.jpg", "deep in the folders.png", "cat 00 copy.jpg"} <= names
    assert not any(n.startswith(".") or n == "Thumbs.db" for n in names)


def test_duplicates_imbalance_and_image_kinds_are_reported(torture):
    scan = scan_dataset(torture)
    groups = [(_rel(g.paths, torture), g.classes, g.exact) for g in scan.duplicate_groups()]
    assert groups == EXPECTED_DUPLICATES
    report = scan.health()
    assert (report["exact_duplicate_groups"], report["near_duplicate_groups"], report["cross_class_groups"]) == (2, 1, 1)
    assert report["imbalance"] == {"ratio": 3.0, "largest": "cats", "smallest": "astronaut",
                                   "weighted_loss_by_default": True}
    images = report["images"]
    assert images["modes"] == {"RGB": 16, "P": 2, "L": 1, "RGBA": 1, "CMYK": 1, "I;16": 1}
    assert images["bit_depths"] == {"8": 21, "16": 1} and images["formats"]["JPEG"] == 10
    text = "\n".join(health_lines(report, scan.summary()["skipped"]))
    # counted as pictures with where their copies are (a walkthrough found "groups" garbled)
    assert text.startswith("1 picture appears under different classes (1 copy in cats, 1 in coffee)")
    assert "2 other pictures are copied within their class" in text
    assert "Skipped files: " in text and "1 very large image" in text  # counted by reason
    assert conflict_lines(report) == ["Same picture in different classes: cats/cat_02.png (cats), "
                                      "coffee/mislabelled.png (coffee)."]
    assert "kept on one side of the train/validation split" in text and "3x the images" in text


@pytest.mark.parametrize("seed", range(6))
def test_the_split_keeps_every_duplicate_group_on_one_side(torture, seed):
    scan = scan_dataset(torture)
    split = make_split(scan, 0.3, seed)
    train = {i.path for i in split.train}
    for group in scan.duplicate_groups():
        sides = {p in train for p in group.paths}
        assert len(sides) == 1, group
    assert len(split.train) + len(split.val) == sum(GOOD_COUNTS.values())


def test_in_a_presplit_folder_duplicates_of_training_images_leave_validation(tmp_path):
    root = make_class_folder(tmp_path / "p" / "train", ["a", "b"], per_class=6, size=48, seed=1)
    make_class_folder(tmp_path / "p" / "val", ["a", "b"], per_class=3, size=48, seed=2)
    leaked = root / "a" / "img_001.png"
    shutil.copy(leaked, tmp_path / "p" / "val" / "a" / "copied from train.png")
    scan = scan_dataset(tmp_path / "p")
    split = make_split(scan)
    assert [i.path.name for i in split.val].count("copied from train.png") == 0
    assert len(split.val) == 6
    report = scan.health()
    assert report["left_out_of_validation"] == ["val/a/copied from train.png"]
    assert "left out of validation" in "\n".join(health_lines(report))


def test_thousands_of_identical_looking_images_form_one_group(tmp_path):
    """Blank scans: one difference hash and one thumbnail for all; the search must not go quadratic."""
    class Fake:
        root, layout, classes = tmp_path, "flat", ["blank"]

        def __init__(self, n):
            self.items = {"all": [ImageItem(tmp_path / f"{i:05d}.png", 0) for i in range(n)]}
            self.info = {i.path: ImageInfo(64, 64, "L", "PNG", f"h{k}", 0, bytes(256))
                         for k, i in enumerate(self.items["all"])}

        def all_items(self):
            return self.items["all"]

    groups = duplicate_groups(Fake(4000))
    assert len(groups) == 1 and len(groups[0].paths) == 4000 and not groups[0].exact


def test_class_weights_are_inverse_frequency_with_mean_one():
    weights = class_weights([12, 6, 4])
    assert weights == pytest.approx([22 / 36, 22 / 18, 22 / 12])
    assert sum(w * n for w, n in zip(weights, [12, 6, 4])) == pytest.approx(22)


def test_training_evaluating_and_predicting_on_the_torture_set_leave_it_untouched(torture, tmp_path):
    before = tree_fingerprint(torture)
    scan = scan_dataset(torture)
    settings = TrainSettings(image_size=64, epochs=2, batch_size=8)
    result = train(scan, settings, tmp_path / "run")
    meta = json.loads((tmp_path / "run" / META_FILE).read_text())
    assert meta["class_weights"] is not None and len(meta["class_weights"]) == 3  # 3:1 imbalance: weighted
    assert meta["dataset"]["health"]["exact_duplicate_groups"] == 2
    assert result.best_val_accuracy >= 0.5
    bundle = load_bundle(tmp_path / "run")
    report = evaluate(bundle, scan_dataset(torture))
    assert report.num_images == len(make_split(scan).val) and not report.unreadable
    results = predict(bundle, [torture / "coffee" / "café ☕ crème.jpg", torture / "astronaut" / LONG_DIR])
    assert [r["label"] is not None for r in results] == [True, True]
    off = train(scan, replace(settings, class_weighting="off", epochs=1), tmp_path / "unweighted")
    assert json.loads((off.run_dir / META_FILE).read_text())["class_weights"] is None
    assert tree_fingerprint(torture) == before


def test_balanced_data_is_not_weighted_by_default(tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=6, size=48)
    ratio = scan_dataset(root).health()["imbalance"]["ratio"]
    assert ratio < IMBALANCE_RATIO
    train(scan_dataset(root), TrainSettings(image_size=64, epochs=1), tmp_path / "run")
    assert json.loads((tmp_path / "run" / META_FILE).read_text())["class_weights"] is None


def test_a_folder_of_splits_chosen_one_level_too_high_is_pointed_out(tmp_path):
    """A walkthrough chose textures/ (train/ and heldout/ inside) and got two classes called train and heldout."""
    root = tmp_path / "textures"
    make_class_folder(root / "train", ["brick", "grass"], per_class=3, size=32)
    make_class_folder(root / "heldout", ["brick", "grass"], per_class=2, size=32, seed=7)
    report = scan_dataset(root).health()
    assert report["nested_classes"] == {"heldout": ["brick", "grass"], "train": ["brick", "grass"]}
    line = health_lines(report)[0]
    assert "'heldout', 'train' hold folders of their own ('brick', 'grass')" in line and "train/ and val/" in line
    assert scan_dataset(root / "train").health()["nested_classes"] == {}  # a normal folder: nothing to say


def test_a_class_whose_pictures_are_copies_is_said_to_get_no_validation_image(tmp_path):
    """A class of 2 with a copy of another class's picture got no validation image while the check said it was
    scored on one (a walkthrough): the copies stay together, so the report names it instead."""
    data = make_class_folder(tmp_path / "d", ["a", "b", "c"], per_class=8, size=48)
    for extra in sorted((data / "b").iterdir())[1:]:
        extra.unlink()
    shutil.copy(sorted((data / "a").iterdir())[0], data / "b" / "copy_of_a.png")
    scan = scan_dataset(data)
    held_out = {scan.classes[i.label] for i in make_split(scan).val}
    assert scan.class_counts()["b"] == 2 and "b" not in held_out
    report = scan.health()
    assert "b" in report["no_validation_images"] and "a" not in report["no_validation_images"]
    said = " ".join(health_lines(report))
    assert "No validation image for 'b'" in said and "'b' has 2" not in said
