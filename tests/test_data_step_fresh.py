"""The Data step never shows a stale dataset: after training again with corrected labels (Results, Try it) going
Back shows the folder as read again, the trained model kept; and a messy folder neither widens the window nor
squeezes its skipped files out of sight."""

import html
import shutil
from dataclasses import replace

import pytest

from app.main_window import MainWindow
from core.data import label_sheet
from tests.datagen import make_class_folder, tree_fingerprint

DATA, TRAIN, RESULTS = 0, 4, 5


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


def _window(qtbot) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.confirm_quit_while_busy = lambda: True
    window.resize(900, 700)
    window.show()
    return window


def _scan(qtbot, window, folder) -> None:
    with qtbot.waitSignal(window.pages[DATA].task.stopped, timeout=60000):
        window.pages[DATA].scan_folder(str(folder))


def _counts(page) -> dict[str, str]:
    return {page.table.item(r, 0).text(): page.table.item(r, 1).text() for r in range(page.table.rowCount())}


def test_back_to_data_after_training_again_shows_the_new_labels_and_keeps_the_model(qtbot, tmp_path):
    folder = make_class_folder(tmp_path / "shapes", ["circle", "square"], per_class=8, size=48)
    before = tree_fingerprint(folder)
    window = _window(qtbot)
    data = window.pages[DATA]
    _scan(qtbot, window, folder)
    data._mistakes = "2 of 16 images, by a classifier on the model's features; 0 decided here."  # as a check leaves it
    data._show_health(data._health)
    assert _counts(data) == {"circle": "8", "square": "8"} and "Possible label mistakes" in data.health_label.text()
    window.state.auto_budget = None
    window.state.settings = replace(window.state.settings, image_size=48, strategy="feature-extraction",
                                    freeze_depth=0, classifier_fit="converged", epochs=1, augmentation="none")
    window.show_page(TRAIN)
    with qtbot.waitSignal(window.pages[TRAIN].task.stopped, timeout=120000):
        window.pages[TRAIN].start_training()
    assert window.state.result is not None, window.pages[TRAIN].log.toPlainText()

    # two labels corrected on Results (the gallery writes them to the label sheet), then "Train again with the
    # corrected labels": the folder is read again, swapped in by state.relabelled, and trained with at once
    moved = sorted((folder / "circle").glob("*.png"))[:2]
    label_sheet.record(folder, {path: "square" for path in moved})
    bar = window.pages[RESULTS].relabel_bar
    bar.changes = {str(path): "square" for path in moved}
    with qtbot.waitSignal(window.pages[TRAIN].task.stopped, timeout=120000):
        bar.train_again()
    result, scan = window.state.result, window.state.scan
    assert result is not None and scan.label_sheet["changed"] == 2 and window.state.before_relabel is not None
    window.show_page(DATA)  # back to the Data step
    assert _counts(data) == {"circle": "6", "square": "10"}  # at once
    assert "2 images relabelled" in data.summary.text() and data.copy_button.isVisible()
    qtbot.waitUntil(lambda: not data.refresh_task.is_running(), timeout=60000)
    health = html.unescape(data.health_label.text())
    assert "'square' has 1.67x the images of 'circle'" in health  # the check of the new labels (8 and 8 before)
    assert "Possible label mistakes" not in health  # found among the labels as they were
    assert data.table.cellWidget(0, 2).layout().count() >= 3  # previews again
    assert window.state.result is result and window.state.scan is scan  # the trained model kept
    assert data.is_complete() and window.next_button.isEnabled()
    assert tree_fingerprint(folder) == before
    window.close()


def _messy(tmp_path):
    """A folder with long-named broken files, a picture under two classes and a label sheet that changes one."""
    folder = make_class_folder(tmp_path / "messy", ["brick", "grass", "gravel"], per_class=6, size=48)
    for i in range(8):
        (folder / "brick" / f"a_very_long_file_name_that_goes_on_and_on_without_any_space_number_{i}_broken.jpg"
         ).write_bytes(b"not really a jpeg")
    (folder / "grass" / "notes_about_this_folder_written_by_someone_with_a_very_long_file_name.txt").write_text("x")
    shutil.copy(folder / "brick" / "img_000.png", folder / "grass" / "copied_from_brick.png")
    label_sheet.record(folder, {folder / "gravel" / "img_000.png": "grass"})
    return folder


def test_a_messy_folder_keeps_the_window_size_and_the_skipped_files_readable(qtbot, tmp_path):
    clean = make_class_folder(tmp_path / "clean", ["a", "b"], per_class=6, size=48)
    messy = _messy(tmp_path)
    before = tree_fingerprint(messy)
    window = _window(qtbot)
    data = window.pages[DATA]
    window.resize(900, 450)  # short: the page scrolls with either folder (its scroll bar takes width too)
    _scan(qtbot, window, clean)
    qtbot.wait(50)
    width = window.minimumSizeHint().width()
    window.resize(width, 450)  # as narrow as a clean folder allows
    qtbot.wait(50)
    _scan(qtbot, window, messy)
    qtbot.wait(50)
    assert data.duplicates_button.isVisible() and data.copy_button.isVisible() and data.reset_button.isVisible()
    assert window.minimumSizeHint().width() <= width and window.width() == width
    files = data.skipped_list
    assert files.count() == 9 and data.skipped_box.isVisible()
    assert files.height() >= 6 * files.fontMetrics().lineSpacing()  # several lines in view, the page scrolls
    long = [files.item(i) for i in range(files.count()) if "number_3" in files.item(i).toolTip()]
    assert len(long) == 1 and str(messy / "brick") in long[0].toolTip() and "not an image" in long[0].toolTip()
    assert tree_fingerprint(messy) == before
    window.close()
