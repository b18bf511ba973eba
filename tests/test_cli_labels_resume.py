"""A resumed run and its label sheet (core.data.label_sheet.check_resumed_sheet, core.methods.resume): it goes on
with the labels it started with; a sheet that has since given one of its images another class (or left one out)
is refused with a way out, a sheet changed only for other images is said and the run continues."""

import pytest

from core.base.errors import TransferLabError
from core.data.dataset import make_split, scan_dataset
from core.data.label_sheet import check_resumed_sheet, record
from core.methods.resume import resume_run
from core.training import runs
from core.training.events import TrainCallback
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder, tree_fingerprint


@pytest.fixture(autouse=True)
def _private_sheets(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


class Boom(Exception):
    """Stands in for the process dying in the middle of an epoch."""


class Listener(TrainCallback):
    def __init__(self, die_in: int | None = None):
        self.die_in, self.said = die_in, []

    def on_status(self, message):
        self.said.append(message)

    def on_batch_end(self, event):
        if event.epoch == self.die_in and event.batch == 2:
            raise Boom()


def _record(scan) -> dict:
    """What run.json says of a run started on ``scan`` (the parts the check reads)."""
    split = make_split(scan)
    return {"dataset_root": str(scan.root), "classes": list(scan.classes), "dataset": scan.summary(),
            "split": {"train": runs.relative_items(split.train, scan.root),
                      "val": runs.relative_items(split.val, scan.root)}}


def test_the_check_tells_changed_labels_from_other_changes(tmp_path):
    folder = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=4, size=32)
    started = _record(scan_dataset(folder))  # no sheet then
    assert check_resumed_sheet(started) is None
    record(folder, {folder / "elsewhere" / "new.png": "a"})  # a label for an image the run does not have
    assert "continues on the same labels" in check_resumed_sheet(started)
    record(folder, {folder / "a" / "img_000.png": "a"})  # its own class again: no change for the run
    assert "continues on the same labels" in check_resumed_sheet(started)
    record(folder, {folder / "a" / "img_001.png": "(excluded)"})
    with pytest.raises(TransferLabError, match="labels changed since this run started.*1 of its images.*new run"):
        check_resumed_sheet(started)
    again = _record(scan_dataset(folder))  # a run started with that sheet: as it was
    assert again["dataset"]["label_sheet"] and check_resumed_sheet(again) is None
    record(folder, {folder / "b" / "img_002.png": "a"})
    with pytest.raises(TransferLabError, match="labels changed"):
        check_resumed_sheet(again)
    given = tmp_path / "mine.csv"
    given.write_text("path,label\na/img_000.png,b\n", encoding="utf-8")
    with_given = _record(scan_dataset(folder, labels=given))
    assert check_resumed_sheet(with_given) is None  # the folder's own sheet is not the one it started with
    given.unlink()
    with pytest.raises(TransferLabError, match="is gone"):
        check_resumed_sheet(with_given)


def test_a_resumed_run_refuses_changed_labels_and_goes_on_after_other_changes(tmp_path):
    folder = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=8, size=48)
    before = tree_fingerprint(folder)
    given = tmp_path / "mine.csv"
    given.write_text("path,label\na/img_000.png,b\n", encoding="utf-8")
    settings = TrainSettings(image_size=48, batch_size=4, epochs=3, augmentation="light")
    with pytest.raises(Boom):
        train(scan_dataset(folder, labels=given), settings, tmp_path / "run", Listener(die_in=2))
    with open(given, "a", encoding="utf-8") as f:
        f.write("new/img_100.png,a\n")  # labels for images the run does not have
    listener = Listener()
    result = resume_run(tmp_path / "run", listener)
    assert len(result.history) == 3 and runs.read_record(tmp_path / "run")["status"] == runs.FINISHED
    assert any("changed since this run started, but not for any of its images" in m for m in listener.said)

    with pytest.raises(Boom):
        train(scan_dataset(folder, labels=given), settings, tmp_path / "cut", Listener(die_in=2))
    with open(given, "a", encoding="utf-8") as f:
        f.write("b/img_003.png,a\n")
    with pytest.raises(TransferLabError, match="labels changed since this run started"):
        resume_run(tmp_path / "cut")
    assert runs.read_record(tmp_path / "cut")["checkpoint_epoch"] >= 1  # refused before touching the run
    assert tree_fingerprint(folder) == before
