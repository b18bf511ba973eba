"""``--labels SHEET`` on scan, train and evaluate: that sheet applied on top of the folder instead of the
folder's own (core.data.label_sheet.apply_sheet), recorded in the scan and the run, the folder never written to;
a missing or malformed sheet is a one-line error."""

import json
from pathlib import Path

import pytest

from core.base.errors import TransferLabError
from core.cli.main import main
from core.data.dataset import scan_dataset
from core.data.label_sheet import record
from tests.datagen import make_class_folder, make_presplit_folder, tree_fingerprint

FAST = ["--image-size", "48", "--epochs", "2", "--batch-size", "8", "--strategy", "feature-extraction", "--quiet"]


@pytest.fixture(autouse=True)
def _private_sheets(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


def _sheet(path: Path, rows: dict[str, str]) -> Path:
    path.write_text("path,label,source,time\n" + "".join(f"{p},{label},by hand,2026-01-01T00:00:00\n"
                                                          for p, label in rows.items()), encoding="utf-8")
    return path


def run_json(capsys, *argv):
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_scan_applies_the_given_sheet_instead_of_the_folders_own(tmp_path, capsys):
    folder = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=4, size=32)
    before = tree_fingerprint(folder)
    record(folder, {folder / "a" / "img_000.png": "b"})  # the folder's own sheet: not used with --labels
    given = _sheet(tmp_path / "mine.csv", {"a/img_001.png": "c", "a/img_002.png": "c", "b/img_000.png": "(excluded)"})
    code, summary, _ = run_json(capsys, "scan", str(folder), "--labels", str(given), "--quiet")
    assert code == 0 and summary["counts"] == {"a": 2, "b": 3, "c": 2}
    assert summary["label_sheet"]["path"] == str(given) and summary["label_sheet"]["changed"] == 3
    code, own, _ = run_json(capsys, "scan", str(folder), "--quiet")
    assert own["counts"] == {"a": 3, "b": 5} and own["label_sheet"]["path"] != str(given)
    absolute = _sheet(tmp_path / "absolute.csv", {(folder / "a" / "img_003.png").as_posix(): "b"})
    assert scan_dataset(folder, labels=absolute).class_counts() == {"a": 3, "b": 5}  # a path in the folder, written out
    empty = _sheet(tmp_path / "empty.csv", {})  # an explicit sheet is recorded even when it changes nothing
    assert scan_dataset(folder, labels=empty).label_sheet["changed"] == 0
    assert tree_fingerprint(folder) == before


def test_a_pre_split_folder_under_a_given_sheet(tmp_path):
    folder = make_presplit_folder(tmp_path / "split", ["a", "b"], train=3, val=2, test=1, size=32)
    given = _sheet(tmp_path / "mine.csv", {"val/a/img_000.png": "b", "test/b/img_000.png": "(excluded)"})
    scan = scan_dataset(folder, labels=given)
    counts = scan.split_counts()
    assert counts["val"] == {"a": 1, "b": 3} and counts["test"] == {"a": 1, "b": 0} and counts["train"]["a"] == 3


def test_a_missing_or_malformed_sheet_is_a_clear_error(tmp_path, capsys):
    folder = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=2, size=32)
    (tmp_path / "other.csv").write_text("name,class\nx.png,a\n", encoding="utf-8")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00path")
    for sheet, words in (("gone.csv", "does not exist"), ("other.csv", "is not a label sheet"),
                         ("binary.csv", "is not a label sheet")):
        assert main(["scan", str(folder), "--labels", str(tmp_path / sheet), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1
    with pytest.raises(TransferLabError, match="does not exist"):
        scan_dataset(folder, labels=tmp_path / "gone.csv")


def test_train_and_evaluate_use_the_given_sheet_and_the_run_records_it(tmp_path, capsys):
    folder = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=6, size=48)
    before = tree_fingerprint(folder)
    given = _sheet(tmp_path / "mine.csv", {"a/img_000.png": "(excluded)", "a/img_001.png": "b"})
    code, result, _ = run_json(capsys, "train", str(folder), "--out", str(tmp_path / "run"), "--labels", str(given),
                               *FAST)
    assert code == 0
    meta = json.loads((tmp_path / "run" / "transferlab.json").read_text(encoding="utf-8"))
    assert meta["dataset"]["label_sheet"]["path"] == str(given) and meta["dataset"]["counts"] == {"a": 4, "b": 7}
    code, report, _ = run_json(capsys, "evaluate", str(tmp_path / "run"), str(folder), "--labels", str(given),
                               "--quiet")
    assert code == 0 and report["num_images"] >= 2
    true = {i["path"]: meta["classes"][i["true"]] for i in report["images"]}
    assert str(folder / "a" / "img_000.png") not in true and true.get(str(folder / "a" / "img_001.png"), "b") == "b"
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "r.html"), "--quiet"]) == 0  # its sheet
    assert main(["train", "--resume", str(tmp_path / "run"), "--labels", str(given), "--quiet"]) == 2
    assert "labels it started with" in capsys.readouterr().err
    assert tree_fingerprint(folder) == before


def test_scan_counts_the_possible_label_mistakes_when_asked(tmp_path, capsys):
    from tests.datagen import misfile_one_per_class
    folder = make_class_folder(tmp_path / "shapes", ["circle", "square", "triangle"], per_class=14, size=64)
    moved = misfile_one_per_class(folder, ["circle", "square", "triangle"])
    before = tree_fingerprint(folder)
    code, summary, _ = run_json(capsys, "scan", str(folder), "--check-labels", "--image-size", "64", "--quiet")
    assert code == 0 and summary["label_issues"]["images"] == 42
    assert 2 <= summary["label_issues"]["possible_mistakes"] <= 10, (summary["label_issues"], moved)
    main(["scan", str(folder), "--check-labels", "--image-size", "64", "--quiet"])
    assert "Possible label mistakes:" in capsys.readouterr().out
    _, plain, _ = run_json(capsys, "scan", str(folder), "--quiet")
    assert "label_issues" not in plain  # only when asked: it needs a pass of the network
    assert tree_fingerprint(folder) == before
