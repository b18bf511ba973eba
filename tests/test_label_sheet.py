"""The label sheet (core.data.label_sheet): corrections kept beside the dataset folder, applied by every scan,
the folder itself never written to."""

import pytest

from core.base.errors import TransferLabError
from core.data.dataset import make_split, scan_dataset
from core.data.label_sheet import EXCLUDED, EXCLUDED_REASON, read_sheet, record, sheet_path
from tests.datagen import make_class_folder, make_image, make_presplit_folder, tree_fingerprint


def test_relabels_and_exclusions_apply_on_top_of_a_flat_folder_that_stays_untouched(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    folder = make_class_folder(tmp_path / "shapes", ["circles", "squares"], per_class=6, size=32)
    before = tree_fingerprint(folder)
    plain = scan_dataset(folder)
    assert plain.label_sheet is None and "label_sheet" not in plain.summary()
    moved, left_out = plain.items["all"][0].path, plain.items["all"][1].path  # two circles
    sheet = record(folder, {moved: "squares", left_out.relative_to(folder): EXCLUDED})
    assert sheet == sheet_path(folder) and not str(sheet).startswith(str(folder))
    record(folder, {moved: "triangles"})  # the last row of a path wins; a new class is added after the others
    record(folder, {left_out: ""})  # a row without a label is no row (it made a class named "" before)
    scan = scan_dataset(folder)
    assert tree_fingerprint(folder) == before
    assert scan.classes == ["circles", "squares", "triangles"]
    labels = {i.path: scan.classes[i.label] for i in scan.items["all"]}
    assert labels[moved] == "triangles" and left_out not in labels and len(labels) == 11
    assert any(s.path == left_out and s.reason == EXCLUDED_REASON for s in scan.skipped)
    assert scan.summary()["label_sheet"]["changed"] == 2 and scan.summary()["counts"]["circles"] == 4
    assert len(read_sheet(folder)) == 2
    import pytest

    from core.base.errors import TransferLabError
    with pytest.raises(TransferLabError, match="not in the dataset folder"):
        record(folder, {tmp_path / "elsewhere.png": "squares"})


def test_a_pre_split_folder_keeps_its_splits_under_the_sheet(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    folder = make_presplit_folder(tmp_path / "split", ["a", "b"], train=4, val=2)
    scan = scan_dataset(folder)
    val_item = scan.items["val"][0]
    other = "b" if scan.classes[val_item.label] == "a" else "a"
    record(folder, {val_item.path: other})
    again = scan_dataset(folder)
    assert [i.path for i in again.items["val"]] == [i.path for i in scan.items["val"]]
    assert again.classes[make_split(again).val[0].label] == other and again.label_sheet["changed"] == 1


def test_no_sheet_no_folder_made(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    scan_dataset(make_class_folder(tmp_path / "s", ["a", "b"], per_class=3, size=32))
    assert not (tmp_path / "appdata").exists()


def test_the_command_line_records_shows_imports_and_exports_corrections(tmp_path, monkeypatch, capsys):
    import json

    from core.cli.main import main
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    folder = make_class_folder(tmp_path / "shapes", ["circles", "squares"], per_class=4, size=32)
    before = tree_fingerprint(folder)
    first, second = sorted((folder / "circles").iterdir())[:2]
    assert main(["relabel", str(folder), str(first), "--as", "squares", "--quiet"]) == 0
    assert main(["relabel", str(folder), str(second), "--exclude", "--quiet"]) == 0
    assert main(["relabel", str(folder), str(tmp_path / "elsewhere.png"), "--exclude", "--quiet"]) == 2
    capsys.readouterr()
    assert main(["labels", str(folder), "--json", "--export", str(tmp_path / "copy.csv")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["labels"] == {"circles/" + first.name: "squares", "circles/" + second.name: EXCLUDED}
    other = make_class_folder(tmp_path / "again", ["circles", "squares"], per_class=4, size=32)
    assert main(["labels", str(other), "--import", str(tmp_path / "copy.csv"), "--quiet"]) == 0
    assert read_sheet(other) == shown["labels"]  # the same corrections, for a copy of the folder
    scan = scan_dataset(folder)
    assert scan.classes[next(i.label for i in scan.items["all"] if i.path == first)] == "squares"
    assert tree_fingerprint(folder) == before


def test_new_images_outside_the_folder_join_the_training_images_and_undo_takes_them_back(tmp_path, monkeypatch):
    from core.data.label_sheet import GONE_REASON, NONE_OF_THESE, UNLABELLED, add_labels, record
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    folder = make_class_folder(tmp_path / "d", ["a", "b"], per_class=4, size=32)
    new = tmp_path / "new"
    new.mkdir()
    for i in range(4):
        make_image(i % 2, 32, 90 + i).save(new / f"n{i}.png")
    before = tree_fingerprint(folder)
    add_labels(folder, {str(new / "n0.png"): "a", str(new / "n1.png"): "c", str(new / "n2.png"): NONE_OF_THESE,
                        str(new / "n3.png"): "b"})
    add_labels(folder, {str(new / "n3.png"): UNLABELLED})  # taken back
    scan = scan_dataset(folder)
    added = {str(i.path): scan.classes[i.label] for i in scan.all_items() if new in i.path.parents}
    assert added == {str(new / "n0.png"): "a", str(new / "n1.png"): "c"} and scan.classes == ["a", "b", "c"]
    assert scan.label_sheet["added"] == 2 and scan.label_sheet["changed"] == 0
    (new / "n0.png").unlink()  # a labelled file that is gone is listed, not fatal
    assert any(s.reason == GONE_REASON for s in scan_dataset(folder).skipped)
    with pytest.raises(TransferLabError, match="not in the dataset folder"):
        record(folder, {str(new / "n1.png"): "a"})  # relabelling is for the folder's own images
    assert tree_fingerprint(folder) == before


def test_a_label_taken_back_hides_nothing_and_an_image_in_the_folder_keeps_its_class(tmp_path, monkeypatch):
    from core.data.label_sheet import UNLABELLED, read_sheet, sheet_key
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    folder = make_class_folder(tmp_path / "d", ["a", "b"], per_class=3, size=32)
    image = sorted((folder / "a").iterdir())[0]
    record(folder, {str(image): "b"})
    record(folder, {str(image): UNLABELLED}, outside=True)  # Undo in the mistakes window
    scan = scan_dataset(folder)
    assert {scan.classes[i.label] for i in scan.all_items() if i.path == image} == {"a"}
    assert read_sheet(folder)[sheet_key(image, folder)] == UNLABELLED
    assert sheet_key(tmp_path / "new" / "x.png", folder) == "../new/x.png"
