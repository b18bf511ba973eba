"""The experiment windows: comparing candidates side by side and opening the winner in Results."""

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from core.dataset import scan_dataset
from tests.datagen import make_class_folder


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    root = make_class_folder(tmp_path / "shapes", ["circles", "squares"], per_class=8, size=48)
    w.state.scan = scan_dataset(root)
    w.state.settings = replace(w.state.settings, image_size=48, batch_size=8)
    yield w
    w.confirm_quit_while_busy = lambda: True
    w.close()


def _tick(widget, keys):
    for i in range(widget.count()):
        item = widget.item(i)
        item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in keys
                           else Qt.CheckState.Unchecked)


def test_compare_two_candidates_and_open_the_best_in_results(qtbot, window, tmp_path):
    dialog = window.open_comparison()
    _tick(dialog.models, {"tf_efficientnet_lite0"})
    _tick(dialog.strategies, {"feature-extraction", "scratch"})
    dialog.epochs.setValue(2)
    assert dialog.cost.text().startswith("2 candidates × 2 epochs")
    _tick(dialog.strategies, set())
    assert not dialog.start_button.isEnabled()  # nothing to compare
    _tick(dialog.strategies, {"feature-extraction", "scratch"})
    with qtbot.waitSignal(dialog.task.stopped, timeout=180000):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.board.rowCount() == 2 and not dialog.banner.text()
    labels = [r["label"] for r in dialog.board.rows]
    assert all(dialog.curves.epochs_drawn(label) == 2 for label in labels)
    assert "Best:" in dialog.status.text() and dialog.open_button.isEnabled()
    best = dialog.board.rows[0]
    with qtbot.waitSignal(dialog.runChosen, timeout=5000):
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert window.current_index == 5 and str(window.state.run_dir) == best["run_dir"]
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=60000)
    assert window.state.evaluation["accuracy"] == pytest.approx(best["accuracy"])
