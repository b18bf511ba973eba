"""The window offers to resume a run whose process died, and resumes it on the Train page."""

import pytest

from app.main_window import MainWindow
from core.base.paths import data_dir
from core.data.dataset import scan_dataset
from core.training import runs
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder
from tests.test_resume import Boom, DieInEpoch


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


def _interrupted_run(tmp_path):
    root = make_class_folder(tmp_path / "my photos", ["a", "b"], per_class=8, size=48)
    run_dir = data_dir() / "runs" / "2026-11-24_120000_tf_efficientnet_lite0"
    settings = TrainSettings(image_size=48, batch_size=4, epochs=3, augmentation="none")
    with pytest.raises(Boom):
        train(scan_dataset(root), settings, run_dir, DieInEpoch(2))
    runs.set_status(run_dir, runs.RUNNING)  # what a killed process leaves behind (its lock is gone)
    return run_dir


def test_an_interrupted_run_is_offered_and_resumed(qtbot, tmp_path):
    run_dir = _interrupted_run(tmp_path)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.resume_bar.isVisible()
    assert "my photos" in w.resume_bar.label.text() and "after epoch 1 of 3" in w.resume_bar.label.text()
    assert "UTC" not in w.resume_bar.label.text() and "(today " in w.resume_bar.label.text()  # local time
    with qtbot.waitSignal(w.pages[4].task.stopped, timeout=120000):
        w.resume_bar.resume_button.click()  # rescan the dataset, then continue from the checkpoint
    assert w.current_index == 4 and w.state.result is not None
    assert [e["epoch"] for e in w.state.result.history] == [1, 2, 3]
    assert w.pages[4].curves.point_counts()["epochs"] == 3  # epoch 1 redrawn from the run, 2-3 trained now
    assert runs.read_record(run_dir)["status"] == runs.FINISHED and w.resume_bar.isHidden()
    w.confirm_quit_while_busy = lambda: True
    w.close()


def test_a_discarded_run_is_not_offered_again(qtbot, tmp_path):
    _interrupted_run(tmp_path)
    w = MainWindow()
    qtbot.addWidget(w)
    assert not w.resume_bar.isHidden()
    w.resume_bar.discard_button.click()
    assert w.resume_bar.isHidden() and runs.interrupted_runs() == []
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.resume_bar.isHidden()


def test_open_a_run_lists_the_runs_with_what_each_is(qtbot, tmp_path):
    """A walkthrough found Open a run… to be a bare folder dialog of elided time stamps."""
    from app.run_picker import RunPicker
    from core.models.bundle import META_FILE
    interrupted = _interrupted_run(tmp_path)
    root = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=8, size=48)
    finished = data_dir() / "runs" / "2026-11-25_090000_tf_efficientnet_lite0"
    result = train(scan_dataset(root), TrainSettings(image_size=48, epochs=1, augmentation="none"), finished)
    assert runs.MODEL_DESCRIPTION == META_FILE
    rows = [r for r in runs.summaries() if r["run_dir"] in (str(finished), str(interrupted))]  # others' runs too
    assert [r["run_dir"] for r in rows] == [str(finished), str(interrupted)]  # newest first
    assert rows[0]["status"] == "finished" and rows[0]["val_accuracy"] == result.best_val_accuracy
    assert rows[1]["status"] == "interrupted" and rows[1]["val_accuracy"] is None and rows[1]["images"].endswith(
        "/my photos")
    picker = RunPicker(data_dir() / "runs", str(tmp_path))
    qtbot.addWidget(picker)
    at = [r["run_dir"] for r in picker.rows].index(str(interrupted))
    texts = [picker.table.item(at, c).text() for c in range(picker.table.columnCount())]
    assert texts[3] == "interrupted (can be resumed) after epoch 1 of 3" and texts[4] == "no model yet"
    picker.table.selectRow(at)
    picker.accept()
    assert picker.chosen == str(interrupted)
    other = RunPicker(data_dir() / "runs", str(tmp_path))
    qtbot.addWidget(other)
    other.choose_folder = lambda: str(tmp_path / "elsewhere")
    other.browse()
    assert other.chosen == str(tmp_path / "elsewhere")
