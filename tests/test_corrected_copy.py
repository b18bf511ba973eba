"""The corrected copy (core.data.corrected_copy): a new folder-per-class copy of a dataset with its label sheet
applied, the dataset folder itself byte-identical afterwards."""

import json

import pytest

from core.base.cancel import CancelToken
from core.base.errors import Cancelled, TransferLabError
from core.data.corrected_copy import export_corrected_copy
from core.data.dataset import scan_dataset
from core.data.label_sheet import EXCLUDED, record
from tests.datagen import make_class_folder, make_presplit_folder, tree_fingerprint


@pytest.fixture(autouse=True)
def _private_sheets(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_flat_copy_moves_relabelled_images_leaves_out_excluded_ones_and_copies_bytes(tmp_path):
    folder = make_class_folder(tmp_path / "shapes", ["circles", "squares"], per_class=4, size=32, nested="more")
    before = tree_fingerprint(folder)
    moved = folder / "circles" / "img_000.png"  # squares/img_000.png exists: a name clash in squares/
    record(folder, {moved: "squares", folder / "circles" / "img_001.png": EXCLUDED,
                    folder / "squares" / "more" / "img_002.png": "triangles"})
    copied = export_corrected_copy(scan_dataset(folder), tmp_path / "copy")
    assert tree_fingerprint(folder) == before
    assert _files(tmp_path / "copy") == [
        "circles/img_002.png", "circles/img_003.png",  # img_002/003 were in circles/more/: flattened
        "squares/img_000 (2).png", "squares/img_000.png", "squares/img_001.png", "squares/img_003.png",
        "triangles/img_002.png"]
    assert (tmp_path / "copy/squares/img_000 (2).png").read_bytes() == moved.read_bytes()
    assert (tmp_path / "copy/squares/img_000.png").read_bytes() == (folder / "squares/img_000.png").read_bytes()
    assert (tmp_path / "copy/circles/img_003.png").read_bytes() == (folder / "circles/more/img_003.png").read_bytes()
    assert not any(p.is_symlink() for p in (tmp_path / "copy").rglob("*"))
    assert (copied.images, copied.relabelled, copied.excluded, copied.renamed) == (7, 2, 1, 1)
    assert copied.counts == {"": {"circles": 2, "squares": 4, "triangles": 1}}
    assert copied.bytes == sum(p.stat().st_size for p in (tmp_path / "copy").rglob("*") if p.is_file())
    again = scan_dataset(tmp_path / "copy")  # the copy is a dataset of its own, with the corrected labels
    assert again.class_counts() == {"circles": 2, "squares": 4, "triangles": 1}


def test_a_pre_split_copy_keeps_its_split_folders(tmp_path):
    folder = make_presplit_folder(tmp_path / "split", ["a", "b"], train=3, val=2, test=1, size=32,
                                  val_name="validation")
    before = tree_fingerprint(folder)
    record(folder, {folder / "validation" / "a" / "img_000.png": "b"})
    copied = export_corrected_copy(scan_dataset(folder), tmp_path / "copy")
    assert tree_fingerprint(folder) == before
    assert copied.counts == {"train": {"a": 3, "b": 3}, "validation": {"a": 1, "b": 3}, "test": {"a": 1, "b": 1}}
    assert "validation/b/img_000 (2).png" in _files(tmp_path / "copy")
    assert scan_dataset(tmp_path / "copy").layout == "pre-split"


def test_refuses_a_destination_inside_the_dataset_or_not_empty(tmp_path):
    folder = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=2, size=32)
    before = tree_fingerprint(folder)
    scan = scan_dataset(folder)
    for inside in (folder, folder / "copy", folder / "a" / "deeper"):
        with pytest.raises(TransferLabError, match="outside the dataset folder"):
            export_corrected_copy(scan, inside)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(TransferLabError, match="not empty"):
        export_corrected_copy(scan, tmp_path / "full")
    with pytest.raises(TransferLabError, match="is a file"):
        export_corrected_copy(scan, tmp_path / "full" / "keep.txt")
    assert tree_fingerprint(folder) == before and _files(tmp_path / "full") == ["keep.txt"]
    (tmp_path / "empty").mkdir()
    assert export_corrected_copy(scan, tmp_path / "empty").images == 4  # an empty folder is fine


@pytest.mark.parametrize("existing", [False, True])
def test_a_cancelled_copy_removes_what_it_wrote(tmp_path, existing):
    folder = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=4, size=32)
    before = tree_fingerprint(folder)
    dest = tmp_path / "copy"
    if existing:
        dest.mkdir()
    token = CancelToken()

    def progress(done, total, message):
        if done == 3:
            token.cancel()
    with pytest.raises(Cancelled):
        export_corrected_copy(scan_dataset(folder), dest, progress=progress, cancel=token)
    assert tree_fingerprint(folder) == before
    assert (dest.is_dir() and not any(dest.iterdir())) if existing else not dest.exists()


def test_the_command_line_writes_the_copy(tmp_path, capsys):
    from core.cli.main import main
    folder = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=3, size=32)
    before = tree_fingerprint(folder)
    assert main(["relabel", str(folder), str(folder / "a" / "img_000.png"), "--exclude", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["labels", str(folder), "--export-copy", str(tmp_path / "copy"), "--json", "--quiet"]) == 0
    shown = json.loads(capsys.readouterr().out)["copy"]
    assert (shown["images"], shown["excluded"]) == (5, 1) and len(_files(tmp_path / "copy")) == 5
    assert main(["labels", str(folder), "--export-copy", str(folder / "out"), "--quiet"]) == 2
    assert "outside the dataset folder" in capsys.readouterr().err
    assert tree_fingerprint(folder) == before


def test_an_image_the_sheet_adds_from_outside_the_folder_joins_its_class_folder(tmp_path):
    from core.data.items import ImageItem
    from tests.datagen import make_image
    folder = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=2, size=32)
    new = tmp_path / "new" / "img_000.png"  # a new label for an image elsewhere (core.data.label_sheet adds them)
    new.parent.mkdir()
    make_image(1, 32, 77).save(new)
    scan = scan_dataset(folder)
    scan.items["all"].append(ImageItem(new, scan.classes.index("b")))
    copied = export_corrected_copy(scan, tmp_path / "copy")
    assert (copied.images, copied.added, copied.relabelled, copied.renamed) == (5, 1, 0, 1)
    assert (tmp_path / "copy" / "b" / "img_000 (2).png").read_bytes() == new.read_bytes()
