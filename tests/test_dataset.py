"""core.data.dataset: layouts, skipped files, problems, splitting, and never writing to the user's folder."""

import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from core.base.cancel import CancelToken
from core.base.errors import Cancelled, DatasetError
from core.data.dataset import make_split, scan_dataset, skipped_words
from core.data.images import load_rgb
from core.data.items import ImageItem, SkippedFile
from tests.datagen import make_class_folder, make_image, make_presplit_folder, tree_fingerprint

SIZE = 24


def skipped(scan) -> dict[str, str]:
    return {s.path.relative_to(scan.root).as_posix(): s.reason for s in scan.skipped}


def names(scan, split="all") -> list[str]:
    return sorted(i.path.relative_to(scan.root).as_posix() for i in scan.items[split])


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def noisy(fmt: str) -> bytes:
    """A file whose compressed data is large enough that cutting it in half loses pixels."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


# -- layouts ---------------------------------------------------------------------------------------

def test_flat_layout_classes_sorted_case_insensitively(tmp_path):
    root = make_class_folder(tmp_path / "d", ["cherry", "Banana", "apple"], per_class=3, size=SIZE)
    scan = scan_dataset(root)
    assert scan.layout == "flat" and scan.root == root
    assert scan.classes == ["apple", "Banana", "cherry"]
    assert set(scan.items) == {"all"} and len(scan.all_items()) == 9
    assert scan.class_counts() == {"apple": 3, "Banana": 3, "cherry": 3}
    for item in scan.all_items():
        assert isinstance(item, ImageItem) and scan.classes[item.label] == item.path.parent.name
    assert scan.skipped == [] and scan.problems() == []
    scan.require_trainable()


def test_an_empty_subfolder_is_not_a_class_that_blocks_the_folder(tmp_path):
    """A walkthrough's folder with an empty subfolder could not be used ("Class 'empty' has no usable images");
    a subfolder holding only files that cannot be read is still a class, so its problem is named."""
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=3, size=SIZE)
    (root / "empty" / "nested").mkdir(parents=True)
    (root / "broken").mkdir()
    (root / "broken" / "notes.txt").write_text("not a picture")
    scan = scan_dataset(root)
    assert scan.classes == ["a", "b", "broken"]
    assert [(s.path.name, s.reason.split(" (")[0]) for s in scan.skipped if s.path.name == "empty"] == \
        [("empty", "empty folder")]
    assert any("'broken'" in problem for problem in scan.problems())
    assert skipped_words([s.reason for s in scan.skipped]) == "1 file and 1 empty folder skipped"  # no file
    assert skipped_words([]) == "0 files skipped"
    (root / "broken" / "notes.txt").unlink()
    assert scan_dataset(root).problems() == []  # both empty now: the folder can be used


def test_every_format_is_accepted(tmp_path):
    root = tmp_path / "d"
    for ext in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".JPG", ".PNG"):
        for kind, cls in enumerate(["a", "b"]):
            (root / cls).mkdir(parents=True, exist_ok=True)
            make_image(kind, SIZE, seed=len(ext)).save(root / cls / f"x{ext}")
    tifffile.imwrite(root / "a" / "deep16.tif", np.full((20, 20), 40000, dtype=np.uint16))
    Image.fromarray(np.full((20, 20), 1234, dtype=np.uint16)).save(root / "b" / "deep16.png")
    scan = scan_dataset(root)
    assert scan.skipped == []
    assert scan.class_counts() == {"a": 11, "b": 11}


def test_pre_split_layout_with_valid_folder(tmp_path):
    root = make_presplit_folder(tmp_path / "d", ["cat", "dog"], train=4, val=2, test=1, size=SIZE,
                                val_name="valid")
    scan = scan_dataset(root)
    assert scan.layout == "pre-split" and scan.classes == ["cat", "dog"]
    assert {k: len(v) for k, v in scan.items.items()} == {"train": 8, "val": 4, "test": 2}
    assert all(i.path.relative_to(root).parts[0] == "valid" for i in scan.items["val"])
    assert scan.class_counts() == {"cat": 7, "dog": 7} and scan.problems() == []
    split = make_split(scan, 0.5, seed=3)  # the folders are used as they are
    assert (split.train, split.val, split.test) == (scan.items["train"], scan.items["val"], scan.items["test"])


def test_pre_split_detection_is_case_insensitive_and_test_is_optional(tmp_path):
    root = tmp_path / "d"
    make_class_folder(root / "Train", ["x", "y"], per_class=2, size=SIZE)
    make_class_folder(root / "VALIDATION", ["x", "y"], per_class=1, size=SIZE)
    scan = scan_dataset(root)
    assert scan.layout == "pre-split" and scan.items["test"] == []
    assert len(scan.items["train"]) == 4 and len(scan.items["val"]) == 2 and scan.problems() == []


def test_train_folder_alone_is_a_class_in_a_flat_layout(tmp_path):
    root = make_class_folder(tmp_path / "d", ["train", "other"], per_class=2, size=SIZE)
    assert scan_dataset(root).layout == "flat"


def test_nested_subfolders_count_for_their_class(tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=6, size=SIZE, nested="more")
    (root / "a" / "more" / "deeper").mkdir()
    make_image(0, SIZE, 99).save(root / "a" / "more" / "deeper" / "z.png")
    scan = scan_dataset(root)
    assert scan.classes == ["a", "b"] and scan.class_counts() == {"a": 7, "b": 6}
    assert "a/more/deeper/z.png" in names(scan)


def test_hidden_and_junk_files_are_ignored_silently(tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=2, size=SIZE)
    for junk in ["a/.DS_Store", "a/Thumbs.db", "b/desktop.ini", ".hidden.png", "a/._img_000.png", ".DS_Store"]:
        (root / junk).write_bytes(b"junk")
    for folder in ["__MACOSX/a", ".git", "a/.thumbnails"]:
        (root / folder).mkdir(parents=True)
        make_image(0, SIZE).save(root / folder / "x.png")
    scan = scan_dataset(root)
    assert scan.classes == ["a", "b"] and scan.skipped == [] and len(scan.all_items()) == 4


def test_bad_files_are_skipped_with_reasons_and_good_files_remain(tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=3, size=SIZE)
    (root / "a" / "empty.jpg").write_bytes(b"")
    (root / "a" / "notes.png").write_text("not a picture")
    (root / "b" / "cut.jpg").write_bytes(noisy("JPEG"))
    cut_in_half(root / "b" / "cut.jpg")
    (root / "b" / "cut.png").write_bytes(noisy("PNG"))
    cut_in_half(root / "b" / "cut.png")
    (root / "b" / "readme.txt").write_text("hi")
    (root / "b" / "paper.pdf").write_bytes(b"%PDF-1.4")
    (root / "b" / "noext").write_bytes(b"x")
    make_image(0, SIZE).save(root / "loose.png")
    scan = scan_dataset(root)
    reasons = skipped(scan)
    assert reasons == {
        "a/empty.jpg": "empty file (0 bytes)",
        "a/notes.png": "not an image file (format not recognised)",
        "b/cut.jpg": reasons["b/cut.jpg"],
        "b/cut.png": reasons["b/cut.png"],
        "b/readme.txt": "not a supported image type '.txt'",
        "b/paper.pdf": "not a supported image type '.pdf'",
        "b/noext": "not a supported image type (no extension)",
        "loose.png": "not inside a class folder",
    }
    assert reasons["b/cut.jpg"].startswith("truncated") and reasons["b/cut.png"].startswith("truncated")
    assert all(isinstance(s, SkippedFile) for s in scan.skipped)
    assert scan.class_counts() == {"a": 3, "b": 3} and scan.problems() == []


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_links(tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=2, size=SIZE)
    outside = tmp_path / "outside.png"
    make_image(1, SIZE, 5).save(outside)
    (root / "b" / "linked.png").symlink_to(outside)  # file links are followed
    (root / "b" / "broken.png").symlink_to(tmp_path / "missing.png")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)  # folder links are not
    scan = scan_dataset(root)
    assert scan.class_counts() == {"a": 2, "b": 3}
    assert skipped(scan) == {"b/broken.png": "broken link (its target does not exist)",
                             "a/loop": "link to a folder (not followed)"}


# -- problems --------------------------------------------------------------------------------------

def test_root_errors_name_the_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as e:
        scan_dataset(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(e.value)
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DatasetError, match="not a folder"):
        scan_dataset(tmp_path / "file.png")


def test_empty_root(tmp_path):
    (tmp_path / "d").mkdir()
    scan = scan_dataset(tmp_path / "d")
    assert scan.classes == [] and scan.all_items() == []
    assert len(scan.problems()) == 1 and "is empty" in scan.problems()[0]
    with pytest.raises(DatasetError, match="is empty"):
        scan.require_trainable()


def test_one_class_is_not_enough(tmp_path):
    root = make_class_folder(tmp_path / "d", ["cats"], per_class=3, size=SIZE)
    problems = scan_dataset(root).problems()
    assert problems == [f"Found 1 usable class ('cats'); at least 2 are needed, each in its own subfolder of {root}"]


def test_images_directly_in_root_are_not_classes(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    for i in range(3):
        make_image(i, SIZE).save(root / f"{i}.png")
    scan = scan_dataset(root)
    assert set(skipped(scan).values()) == {"not inside a class folder"}
    assert scan.problems()[0].startswith("Found 0 usable classes")


def test_class_with_one_image_is_named(tmp_path):
    root = make_class_folder(tmp_path / "d", ["cats", "dogs"], per_class=3, size=SIZE)
    for p in sorted((root / "dogs").iterdir())[1:]:
        p.unlink()
    (root / "empty").mkdir()  # an empty folder is not a class (see the test above)
    scan = scan_dataset(root)
    assert scan.problems() == ["Class 'dogs' has only 1 usable image; at least 2 are needed"]
    with pytest.raises(DatasetError, match="'dogs'"):
        scan.require_trainable()


def test_pre_split_class_missing_from_train(tmp_path):
    root = make_presplit_folder(tmp_path / "d", ["cat", "dog"], train=2, val=1, test=1, size=SIZE)
    make_class_folder(root / "val", {"horse": 2}, per_class=1, size=SIZE)
    make_class_folder(root / "test", {"zebra": 3}, per_class=1, size=SIZE)
    scan = scan_dataset(root)
    assert scan.classes == ["cat", "dog"]
    assert scan.extra_classes == {"val": ["horse"], "test": ["zebra"]}
    problems = scan.problems()
    assert len(problems) == 2
    assert "'horse'" in problems[0] and "val/" in problems[0] and "not in train/" in problems[0]
    assert "'zebra'" in problems[1] and "test/" in problems[1]


def test_pre_split_needs_training_images_per_class(tmp_path):
    root = make_presplit_folder(tmp_path / "d", ["cat", "dog"], train=1, val=1, test=0, size=SIZE)
    assert scan_dataset(root).problems() == []  # 1 train + 1 val is enough
    for p in (root / "val" / "dog").iterdir():
        p.unlink()
    for p in (root / "train" / "cat").iterdir():
        p.unlink()
    assert scan_dataset(root).problems() == [
        f"Found 1 usable class ('dog'); at least 2 are needed, each in its own subfolder of {root / 'train'}",
        "Class 'dog' has only 1 usable image in train/ and val/ together; at least 2 are needed",
        "The validation folder val/ has no usable images",  # train/cat is empty now: not a class there
        "Class 'cat' in val/ is not in train/; every class needs training images (add them to train/ or remove the "
        "folder)",
    ]


def test_summary_is_json_with_relative_paths(tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=2, size=SIZE)
    (root / "a" / "bad.png").write_text("nope")
    s = json.loads(json.dumps(scan_dataset(root).summary()))
    assert s["root"] == str(root) and s["layout"] == "flat" and s["classes"] == ["a", "b"]
    assert s["counts"] == {"a": 2, "b": 2} and s["counts_per_split"] == {"all": {"a": 2, "b": 2}}
    assert s["num_images"] == 4 and s["problems"] == []
    assert s["skipped"] == [{"path": "a/bad.png", "reason": "not an image file (format not recognised)"}]


# -- progress and cancel ---------------------------------------------------------------------------

def test_progress_reaches_total(tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=4, size=SIZE)
    (root / "a" / "x.txt").write_text("not counted: never probed")
    calls = []
    scan_dataset(root, progress=lambda done, total, msg: calls.append((done, total, msg)))
    assert calls[-1][:2] == (8, 8) and [c[0] for c in calls] == list(range(9))
    assert all(isinstance(c[2], str) for c in calls)


def test_progress_on_an_empty_folder(tmp_path):
    (tmp_path / "d").mkdir()
    calls = []
    scan_dataset(tmp_path / "d", progress=lambda *a: calls.append(a[:2]))
    assert calls == [(0, 0)]


def test_cancel_before_and_during_the_scan(tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=5, size=SIZE)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        scan_dataset(root, cancel=token)
    token, calls = CancelToken(), []

    def progress(done, total, msg):
        calls.append(done)
        if done == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        scan_dataset(root, progress=progress, cancel=token)
    assert max(calls) == 3


# -- split -----------------------------------------------------------------------------------------

@pytest.fixture
def uneven(tmp_path):
    root = tmp_path / "d"
    for kind, (cls, n) in enumerate({"a": 10, "b": 5, "c": 2, "d": 3}.items()):
        make_class_folder(root, {cls: kind}, per_class=n, size=SIZE)
    return scan_dataset(root)


def test_split_is_stratified(uneven):
    split = make_split(uneven, 0.2, seed=0)
    val = Counter(uneven.classes[i.label] for i in split.val)
    train = Counter(uneven.classes[i.label] for i in split.train)
    assert val == {"a": 2, "b": 1, "c": 1, "d": 1}  # round(n * 0.2), at least 1
    assert train == {"a": 8, "b": 4, "c": 1, "d": 2}  # and at least 1 left to train on
    assert split.test == []
    assert sorted(split.train + split.val, key=lambda i: str(i.path)) == uneven.items["all"]


def test_split_keeps_one_training_image_at_high_fractions(uneven):
    split = make_split(uneven, 0.9, seed=0)
    assert Counter(uneven.classes[i.label] for i in split.train) == {"a": 1, "b": 1, "c": 1, "d": 1}


def test_split_is_seeded(uneven, tmp_path):
    paths = lambda s: [str(i.path) for i in s.val]  # noqa: E731
    assert paths(make_split(uneven, 0.3, seed=1)) == paths(make_split(uneven, 0.3, seed=1))
    again = scan_dataset(uneven.root)  # a fresh scan of the same files splits the same way
    assert paths(make_split(again, 0.3, seed=1)) == paths(make_split(uneven, 0.3, seed=1))
    assert len({tuple(paths(make_split(uneven, 0.3, seed=s))) for s in range(5)}) > 1


def test_every_class_in_train_and_val(uneven):
    for seed in range(5):
        split = make_split(uneven, 0.1, seed=seed)
        assert {i.label for i in split.train} == {i.label for i in split.val} == set(range(4))


@pytest.mark.parametrize("fraction", [0, -0.1, 0.95, 1.0, float("nan"), "x"])
def test_bad_validation_fraction(uneven, fraction):
    with pytest.raises(DatasetError, match="validation fraction"):
        make_split(uneven, fraction)


# -- read-only -------------------------------------------------------------------------------------

def test_dataset_folder_is_never_written(tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=4, size=SIZE, ext=".jpg", nested="sub")
    (root / "a" / "bad.png").write_text("nope")
    pre = make_presplit_folder(tmp_path / "p", ["a", "b"], train=2, val=1, test=1, size=SIZE)
    for folder in (root, pre):
        before = tree_fingerprint(folder)
        scan = scan_dataset(folder)
        split = make_split(scan, 0.25, seed=0)
        for item in split.train + split.val + split.test + scan.all_items():
            load_rgb(item.path)
        assert tree_fingerprint(folder) == before


def test_pre_split_matches_class_names_ignoring_case_and_ignores_other_folders(tmp_path):
    root = tmp_path / "d"
    make_class_folder(root / "train", ["Cat", "dog"], per_class=2, size=SIZE)
    make_class_folder(root / "val", ["cat", "DOG"], per_class=1, size=SIZE)
    make_class_folder(root / "valid", ["cat"], per_class=1, size=SIZE)
    make_class_folder(root / "notes", ["x"], per_class=1, size=SIZE)
    scan = scan_dataset(root)
    assert scan.classes == ["Cat", "dog"] and scan.extra_classes == {"val": []} and scan.problems() == []
    assert sorted(scan.classes[i.label] for i in scan.items["val"]) == ["Cat", "dog"]
    assert skipped(scan) == {"notes": "folder ignored: not a train, validation or test folder",
                             "valid": "folder ignored: another validation folder is already used"}
