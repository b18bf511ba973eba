"""The Data step's dataset check in words a user can check against the folder: pictures and where their
copies are (not "groups"), and classes too small for their validation score to mean much."""

import shutil

from core.data.dataset import scan_dataset
from core.data.health import FEW_IMAGES, copies_words, duplicate_sentences, health_lines
from tests.datagen import make_class_folder, make_presplit_folder


def _messy(tmp_path):
    """A walkthrough's messy folder: one grass picture copied 3 times inside grass, and once into brick."""
    root = make_class_folder(tmp_path / "messy", ["grass", "brick"], per_class=8, size=48)
    original = root / "grass" / "img_000.png"
    for name in ("copy 1.png", "copy 2.png"):
        shutil.copy(original, root / "grass" / name)
    shutil.copy(original, root / "brick" / "from grass.png")
    return root


def test_a_picture_under_two_classes_is_counted_as_one_picture_with_its_copies(tmp_path):
    report = scan_dataset(_messy(tmp_path)).health()
    text = "\n".join(health_lines(report))
    assert text.startswith("1 picture appears under different classes (3 copies in grass, 1 in brick): "
                           "one of its labels is wrong; check which.")
    assert "The copies are exact" in text
    assert "0 groups" not in text and "of these 1 group" not in text and "within a class" not in text
    assert "kept on one side of the train/validation split" in text


def test_copies_are_counted_per_picture_and_exact_versus_near_in_pictures():
    assert copies_words(["grass", "brick", "grass", "grass"]) == "3 copies in grass, 1 in brick"
    assert copies_words(["b", "a"]) == "1 copy in a, 1 in b"
    dups = [{"classes": ["a", "b"], "cross_class": True, "exact": True},
            {"classes": ["a", "a", "a"], "cross_class": False, "exact": False},
            {"classes": ["c", "c"], "cross_class": False, "exact": True}]
    assert duplicate_sentences(dups) == [
        "1 picture appears under different classes (1 copy in a, 1 in b): one of its labels is wrong; check which.",
        "2 other pictures are copied within their class (3 copies in a; 2 copies in c).",
        "Of these 3 pictures, 2 have exact copies (the same file), 1 near-identical ones (re-saved, resized or "
        "lightly cropped)."]
    many = [{"classes": ["a", "b"], "cross_class": True, "exact": False}] * 4
    words = duplicate_sentences(many)
    assert words[0].startswith("4 pictures appear under different classes (") and "; …)" in words[0]
    assert words[-1].startswith("All the copies are near-identical")


def test_a_class_with_very_few_images_is_named_with_what_it_does_to_validation(tmp_path):
    root = make_class_folder(tmp_path / "d", ["cats", "dogs"], per_class=8, size=48)
    # crosses: two different pictures (diagonals were near copies, which get no validation image at all)
    make_class_folder(root, {"owls": 5}, per_class=2, size=48, seed=3)
    report = scan_dataset(root).health()
    assert report["few_images"] == {"owls": 2} and report["few_validation_images"] is None
    line = next(line for line in health_lines(report) if line.startswith("Very few images"))
    assert "'owls' has 2" in line and "scored on a single image" in line and "0% or 100%" in line
    assert "cats" not in line
    roomy = make_class_folder(tmp_path / "e", ["cats", "dogs"], per_class=FEW_IMAGES, size=48)
    assert not any("Very few" in line for line in health_lines(scan_dataset(roomy).health()))


def test_in_a_split_folder_few_validation_images_are_named_from_the_folder(tmp_path):
    root = make_presplit_folder(tmp_path / "p", ["a", "b"], train=6, val=2)
    report = scan_dataset(root).health()
    assert report["few_images"] == {} and report["few_validation_images"] == {"a": 2, "b": 2}
    text = "\n".join(health_lines(report))
    assert "Validation scores some classes on very few images ('a' on 2, 'b' on 2)" in text
    assert "Very few images" not in text  # the split is the folder's: no "default 20%" guess


def test_a_class_of_one_image_is_not_said_to_be_scored_on_one(tmp_path):
    """A walkthrough read "'sand' has 1. … this class is scored on a single image … and the model learns it": with
    one image it can be neither; the scan's problem says what to do."""
    root = make_class_folder(tmp_path / "d", ["cats", "dogs"], per_class=8, size=48)
    make_class_folder(root, {"owls": 5}, per_class=1, size=48, seed=3)
    scan = scan_dataset(root)
    assert not any("Very few" in line for line in health_lines(scan.health()))
    assert any("owls" in problem for problem in scan.problems())


def test_images_labelled_from_outside_the_folder_are_said_not_to_be_described(tmp_path, monkeypatch):
    from core.data import label_sheet
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    root = make_class_folder(tmp_path / "d", ["cats", "dogs"], per_class=6, size=48)
    new = make_class_folder(tmp_path / "new", ["x"], per_class=2, size=48)
    label_sheet.add_labels(root, {p: "cats" for p in sorted((new / "x").iterdir())})
    line = next(line for line in health_lines(scan_dataset(root).health()) if line.startswith("Images:"))
    assert "colour (RGB) 12" in line and "the 2 labelled from outside the folder are not counted here" in line
