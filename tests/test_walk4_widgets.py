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


def test_ranking_keeps_the_model_table_readable_and_says_each_sentence_once(qtbot, tmp_path):
    from dataclasses import replace

    from app.main_window import MainWindow
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1100, 780)
    window.show()
    window.state.scan = scan_dataset(make_class_folder(tmp_path / "shapes", ["circles", "squares"], per_class=8,
                                                       size=48))
    window.state.settings = replace(window.state.settings, image_size=48, batch_size=8)
    window.show_page(1)
    page = window.pages[1]
    width = window.width()
    with qtbot.waitSignal(page.rank_task.stopped, timeout=180000):
        page.rank()
    qtbot.wait(50)
    table = page.table
    about = table.columnCount() - 1
    assert window.width() == width and not table.horizontalScrollBar().isVisible()
    assert table.columnWidth(about) >= 180, [table.columnWidth(c) for c in range(table.columnCount())]
    lines = table.fontMetrics().lineSpacing()
    assert max(table.rowHeight(r) for r in range(table.rowCount())) <= 3 * lines + 12  # no letter-per-line rows
    words = page.rank_label.text()
    assert words.count("LogME") == 1 and words.count("simple classifier") == 1, words
    assert "#1 " in "".join(table.item(r, table.columnCount() - 2).text() for r in range(table.rowCount()))
    window.confirm_quit_while_busy = lambda: True


def test_confusion_matrix_with_13_classes_numbers_its_columns_with_the_rows_as_legend(qtbot):
    from app.widgets.confusion import ConfusionMatrixWidget
    names = [f"soil_type_{name}" for name in "abcdefghijklm"]
    matrix = ConfusionMatrixWidget()
    qtbot.addWidget(matrix)
    matrix.set_matrix([[4 if r == c else 1 for c in range(13)] for r in range(13)], names)
    matrix.resize(510, 300)  # its room on Results in a 1100 x 780 window
    matrix.show()
    qtbot.wait(20)
    header = matrix.horizontalHeader()
    for i, name in enumerate(names):
        text = matrix.horizontalHeaderItem(i).text()
        assert text == str(i + 1) and header.fontMetrics().horizontalAdvance(text) < matrix.columnWidth(i)
        assert matrix.verticalHeaderItem(i).text() == f"{i + 1}  {name}"
        assert matrix.horizontalHeaderItem(i).toolTip() == f"Predicted as {name}"
    assert not matrix.horizontalScrollBar().isVisible()
    few = ConfusionMatrixWidget()  # names that fit keep them
    qtbot.addWidget(few)
    few.set_matrix([[3, 1, 0], [0, 4, 0], [1, 0, 5]], ["cats", "dogs", "birds"])
    few.resize(510, 300)
    few.show()
    qtbot.wait(20)
    assert few.horizontalHeaderItem(0).text() == "→ cats" and few.verticalHeaderItem(0).text() == "cats"
    photos = ConfusionMatrixWidget()  # the fifth walkthrough's 13 photo classes: the 13th column was cut off
    qtbot.addWidget(photos)
    long_names = names[:12] + ["immunohistochemistry"]
    photos.set_matrix([[10 if r == c else 0 for c in range(13)] for r in range(13)], long_names)
    photos.resize(505, 240)
    photos.show()
    qtbot.wait(20)
    assert not photos.horizontalScrollBar().isVisible()
    assert "…" in photos.verticalHeaderItem(12).text() and photos.verticalHeaderItem(12).toolTip().endswith(
        "immunohistochemistry")


def _trained_window(qtbot, tmp_path):
    from tests.test_gui_unknown import _trained
    window = _trained(qtbot, make_class_folder(tmp_path / "shapes", ["circles", "squares", "triangles"],
                                               per_class=10, size=48), epochs=1)
    window.resize(1100, 780)
    window.show()
    qtbot.wait(20)
    return window


def test_unknown_panel_names_its_axis_and_images_and_wraps_its_whole_sentence(qtbot, tmp_path):
    import numpy as np
    from PIL import Image
    window = _trained_window(qtbot, tmp_path)
    panel = window.pages[5].unknown_panel
    noise = tmp_path / "noise"
    noise.mkdir()
    for i in range(6):
        pixels = np.random.default_rng(i).integers(0, 256, (48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(noise / f"{i}.png")
    panel.choose_other_folder = lambda: str(noise)
    with qtbot.waitSignal(panel.task.stopped, timeout=60000):
        panel.other_button.click()
    qtbot.wait(50)
    words = panel.value.text()
    assert f"of your {panel.curve.known_images} labelled images" in words and "catches" in words, words
    assert "threshold" in panel.plot.getPlotItem().getAxis("bottom").labelText
    assert panel.value.height() >= panel.value.heightForWidth(panel.value.width())  # every wrapped line shown
    assert panel.value.wordWrap()


def test_try_it_names_the_model_it_uses(qtbot, tmp_path):
    from pathlib import Path
    window = _trained_window(qtbot, tmp_path)
    window.show_page(6)
    page = window.pages[6]
    run_dir = Path(window.state.run_dir)
    line = page.model_label.text()
    assert page.model_label.isVisible() and run_dir.name in line and "trained " in line
    assert "validation accuracy" in line and "%" in line, line
    assert page.model_label.toolTip() == str(run_dir)
    assert page.model_label.sizeHint().width() < page.width()  # one short line


def test_label_new_images_progress_names_the_work_and_shows_a_percent(qtbot, tmp_path):
    from tests.datagen import make_image
    window = _trained_window(qtbot, tmp_path)
    new = tmp_path / "unlabelled"
    new.mkdir()
    for i in range(8):
        make_image(i % 3, 48, 500 + i).save(new / f"new_{i}.png")
    window.show_page(6)
    dialog = window.pages[6].label_folder(str(new))
    shown = [dialog.busy.progress.format()]  # a busy bar (no total yet): Qt shows no text, the caption says it
    dialog.task.progress.connect(lambda *_: shown.append(dialog.busy.progress.text()))
    qtbot.waitUntil(lambda: dialog.session is not None and not dialog.task.is_running(), timeout=120000)
    assert shown[0] == "Loading the model" and not [t for t in shown if BARE_COUNT.search(t)], shown
    assert any(t.endswith("%") and ": " in t for t in shown[1:]), shown
    dialog.close()


def test_the_per_class_table_shortens_a_long_class_name_not_its_numbers(qtbot):
    """The fifth walkthrough's 13 photo classes cut the "Images" header to "I"."""
    from types import SimpleNamespace

    from app.pages.results_view import ResultsPage
    from app.state import WizardState
    page = ResultsPage(WizardState())
    qtbot.addWidget(page)
    names = ["astronaut", "hubble_deep_field", "immunohistochemistry", "moon"]
    report = SimpleNamespace(classes=names, confusion_matrix=[[3 if r == c else 0 for c in range(4)] for r in range(4)],
                             per_class={n: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3} for n in names})
    page.resize(910, 780)
    page.show()
    page._fill_metrics(report)
    table, header = page.per_class, page.per_class.horizontalHeader()
    assert table.columnWidth(4) >= header.fontMetrics().horizontalAdvance("Images")
    assert table.item(2, 0).toolTip() == "immunohistochemistry" and not table.horizontalScrollBar().isVisible()
