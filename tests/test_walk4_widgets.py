"""Issue 14's walkthrough, part 4: progress that says what is done and in what unit (the busy row, the label
mistakes dialog)."""

import re

import pytest

from app.label_mistakes_dialog import LabelMistakesDialog
from app.tasks import Task
from app.widgets.busy import BusyRow
from core.data.dataset import scan_dataset
from core.training.settings import TrainSettings
from tests.datagen import make_class_folder

BARE_COUNT = re.compile(r"(^|\s)\d+ / \d+")


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


def test_busy_row_says_what_it_does_and_a_percent_or_a_counted_unit(qtbot):
    task = Task()
    row = BusyRow(task)
    qtbot.addWidget(row)
    row.begin("Computing the features of the images")
    assert row.progress.format() == "Computing the features of the images"
    row.report(45, 100, "")  # a report without words keeps the words said before
    assert row.progress.text() == "Computing the features of the images: 45%"
    row.report(90, 100, "Checking each image's label")
    assert row.progress.text() == "Checking each image's label: 90%"
    counted = BusyRow(task, unit="images")
    qtbot.addWidget(counted)
    counted.report(3, 12, "Scoring")
    assert counted.progress.text() == "Scoring: 3 of 12 images"


def test_label_mistakes_progress_names_the_work_and_shows_a_percent(qtbot, tmp_path):
    folder = make_class_folder(tmp_path / "shapes", ["circle", "square"], per_class=10, size=48)
    dialog = LabelMistakesDialog(scan_dataset(folder), TrainSettings().model_name, 48)
    qtbot.addWidget(dialog)
    dialog.show()
    shown: list[str] = []
    dialog.task.progress.connect(lambda *_: shown.append(dialog.busy.progress.text()))
    with qtbot.waitSignal(dialog.task.stopped, timeout=120000):
        dialog.find()
    assert shown and dialog.found is not None, dialog.status.text()
    assert not [t for t in shown if BARE_COUNT.search(t)], shown
    assert any(t.startswith("Computing the features of the images: ") and t.endswith("%") for t in shown), shown
