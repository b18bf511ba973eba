""""I don't know" in the window: a folder of images of no class, scored on the Results page, added as a class of
its own; Train then trains with it, the earlier run put aside."""

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from tests.datagen import make_class_folder, tree_fingerprint

TRAIN, RESULTS = 4, 5


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


def _noise(folder, n: int):
    folder.mkdir()
    for i in range(n):
        pixels = np.random.default_rng(i).integers(0, 256, (48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    return folder


def _trained(qtbot, root, epochs: int):
    """The window after the Data step read ``root`` and a plain run trained on it, on the Results page's
    "I don't know" tab."""
    window = MainWindow()
    qtbot.addWidget(window)
    window.confirm_quit_while_busy = lambda: True
    with qtbot.waitSignal(window.pages[0].task.stopped, timeout=60000):
        window.pages[0].scan_folder(str(root))  # as the Data step does
    window.state.auto_budget = None
    window.state.settings = replace(window.state.settings, image_size=48, batch_size=4, epochs=epochs,
                                    augmentation="none")
    train_page, results = window.pages[TRAIN], window.pages[RESULTS]
    window.show_page(TRAIN)
    with qtbot.waitSignal(train_page.task.stopped, timeout=120000):
        train_page.start_training()
    with qtbot.waitSignal(results.task.stopped, timeout=60000):
        window.show_page(RESULTS)
    results.left_tabs.setCurrentWidget(results.unknown_panel)
    return window


def test_images_of_no_class_added_as_a_class_from_results_and_trained_with(qtbot, tmp_path):
    root = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=8, size=48)
    noise = _noise(tmp_path / "floor photos", 6)
    before = tree_fingerprint(root), tree_fingerprint(noise)
    window = _trained(qtbot, root, epochs=2)
    train_page, results = window.pages[TRAIN], window.pages[RESULTS]
    first_run = window.state.run_dir
    panel = results.unknown_panel
    panel.choose_other_folder = lambda: str(noise)
    with qtbot.waitSignal(panel.task.stopped, timeout=60000):
        qtbot.mouseClick(panel.other_button, Qt.MouseButton.LeftButton)
    panel.choose_class_name = lambda: "floor"
    with qtbot.waitSignal(results.retrainRequested, timeout=60000):
        qtbot.mouseClick(panel.extra_button, Qt.MouseButton.LeftButton)
    assert window.current_index == TRAIN and window.state.result is None
    assert window.state.scan.classes == ["a", "b", "floor"] and window.state.scan.root == root
    assert f"Added the 6 images in {noise} as the class “floor”" in train_page.banner.text()
    with qtbot.waitSignal(train_page.task.stopped, timeout=120000):
        train_page.start_training()
    assert window.state.run_dir != first_run
    with qtbot.waitSignal(results.task.stopped, timeout=60000):
        window.show_page(RESULTS)
    assert results.state.evaluation.classes == ["a", "b", "floor"]
    window.show_page(0)  # the Data step shows the class too, and where it comes from
    data_page = window.pages[0]
    assert data_page.table.item(2, 0).text() == "floor" and data_page.table.item(2, 1).text() == "6"
    assert "Also used: “floor”" in data_page.banner.text()
    assert (tree_fingerprint(root), tree_fingerprint(noise)) == before
    window.close()


def test_images_marked_none_of_these_are_what_i_dont_know_is_measured_on(qtbot, tmp_path):
    """Label new images' "None of these" feeds the unknown-image option: Results offers to score those images."""
    from core.data import label_sheet
    root = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=8, size=48)
    noise = _noise(tmp_path / "new", 5)
    label_sheet.add_labels(root, {noise / f"{i}.png": label_sheet.NONE_OF_THESE for i in range(5)})
    before = tree_fingerprint(root)
    window = _trained(qtbot, root, epochs=1)
    assert window.state.scan.class_counts() == {"a": 8, "b": 8}  # never trained on
    panel = window.pages[RESULTS].unknown_panel
    assert panel.marked_button.isVisibleTo(panel) and panel.marked_button.text() == "Your “none of these” images (5)"
    with qtbot.waitSignal(panel.task.stopped, timeout=60000):
        qtbot.mouseClick(panel.marked_button, Qt.MouseButton.LeftButton)
    assert panel.other_words == "the 5 images you marked “none of these”" and "you marked" in panel.value.toolTip()
    assert "of 5 of no class" in panel.value.text()
    assert not panel.extra_button.isEnabled()  # a folder can be added as a class; these are rows of the sheet
    assert tree_fingerprint(root) == before
    window.close()
