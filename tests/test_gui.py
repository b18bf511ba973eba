"""The whole wizard, driven offscreen like a first-time user: data → … → try it."""

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from tests.datagen import make_class_folder, make_image, tree_fingerprint


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


@pytest.fixture
def window(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    yield w
    w.confirm_quit_while_busy = lambda: True
    w.close()


def next_page(window, qtbot, index):
    qtbot.waitUntil(window.next_button.isEnabled, timeout=120000)
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    assert window.current_index == index


def test_whole_wizard_from_folder_to_prediction(qtbot, window, tmp_path):
    root = make_class_folder(tmp_path / "shapes", ["circles", "squares"], per_class=8, size=64)
    before = tree_fingerprint(root)
    window.state.settings = replace(window.state.settings, image_size=64)  # keep the test fast
    data = window.pages[0]
    data.scan_folder(str(root))
    qtbot.waitUntil(data.is_complete, timeout=30000)
    next_page(window, qtbot, 1)
    assert window.state.settings.model_name == "tf_efficientnet_lite0"
    next_page(window, qtbot, 2)
    qtbot.waitUntil(lambda: window.state.suggestion is not None, timeout=60000)  # accept the suggestion
    strategy = window.pages[2]  # Auto (on by default) with the Fast budget
    strategy.auto_box.budget_combo.setCurrentIndex(strategy.auto_box.budget_combo.findData("fast"))
    assert window.state.auto_budget == "fast" and "Predicted time" in strategy.auto_box.plan_label.text()
    next_page(window, qtbot, 3)
    assert window.pages[3].banner.isVisible() and "Auto is on" in window.pages[3].banner.text()
    next_page(window, qtbot, 4)
    train = window.pages[4]
    assert "Auto, fast budget" in train.plan.text()
    with qtbot.waitSignal(train.task.stopped, timeout=120000):
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    result = window.state.result
    assert result is not None and sum(r["winner"] for r in result.rows) == 1
    assert train.curves.point_counts()["epochs"] == 1  # the last candidate's single fit
    log = train.log.toPlainText()
    assert "Candidate 1 of" in log and "Auto kept:" in log
    window.show_page(2)  # back on the Strategy page: the candidates tried, with the winner
    assert "Last Auto run" in strategy.auto_box.plan_label.text() and "kept" in strategy.auto_box.plan_label.text()
    window.show_page(4)
    next_page(window, qtbot, 5)
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=60000)
    evaluation = window.state.evaluation
    assert len(evaluation.confusion_matrix) == 2 and 0 <= evaluation.accuracy <= 1
    results = window.pages[5]
    assert "%" in results.accuracy_label.text() and "Auto kept" in results.accuracy_label.text()
    assert "the one candidate it trained" in results.accuracy_label.text()  # Fast trains one: never "best of 1"
    assert results.confusion.rowCount() == 2 and results.confusion.columnCount() == 2
    # Save a copy where the user chooses; a place that cannot hold a folder is a clear message.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    results.choose_save_folder = lambda: str(blocker)
    qtbot.waitUntil(results.save_button.isEnabled, timeout=30000)
    with qtbot.waitSignal(results.task.stopped, timeout=30000):
        qtbot.mouseClick(results.save_button, Qt.MouseButton.LeftButton)
    assert "Cannot save the model" in results.banner.text()
    results.choose_save_folder = lambda: str(tmp_path / "saved")
    qtbot.waitUntil(results.save_button.isEnabled, timeout=30000)
    with qtbot.waitSignal(results.task.stopped, timeout=30000):
        qtbot.mouseClick(results.save_button, Qt.MouseButton.LeftButton)
    saved = tmp_path / "saved" / window.state.run_dir.name
    assert "Saved the model" in results.banner.text()
    assert (saved / "model.safetensors").is_file() and (saved / "transferlab.json").is_file()
    next_page(window, qtbot, 6)
    image = tmp_path / "new.png"
    make_image(0, size=64, seed=4242).save(image)
    try_page = window.pages[6]
    try_page.predict_paths([str(image)])
    qtbot.waitUntil(lambda: try_page.result_count() == 1, timeout=60000)
    assert try_page.last_label() in ("circles", "squares")
    assert tree_fingerprint(root) == before


def test_steps_list_goes_back_but_not_past_where_the_user_has_been(qtbot, window, tmp_path):
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=4, size=32)
    window.pages[0].scan_folder(str(root))
    qtbot.waitUntil(window.pages[0].is_complete, timeout=30000)
    window.steps.setCurrentRow(4)  # not reached yet: ignored
    assert window.current_index == 0
    next_page(window, qtbot, 1)
    window.steps.setCurrentRow(0)
    assert window.current_index == 0
    qtbot.keyClick(window, Qt.Key.Key_Return)  # Enter = Next
    assert window.current_index == 1


def test_closing_during_training_asks_then_cancels_and_waits(qtbot, tmp_path):
    from core.data.dataset import scan_dataset
    w = MainWindow()
    qtbot.addWidget(w)
    root = make_class_folder(tmp_path / "d", ["a", "b"], per_class=6, size=48)
    w.state.scan = scan_dataset(root)
    w.state.settings = replace(w.state.settings, image_size=64, epochs=500, batch_size=2)
    train = w.pages[4]
    with qtbot.waitSignal(train.task.event, timeout=60000, check_params_cb=lambda e: e[0] == "batch"):
        train.start_training()
    w.confirm_quit_while_busy = lambda: False
    assert not w.close() and train.task.is_running()  # the user said no: keep training
    w.confirm_quit_while_busy = lambda: True
    assert w.close()
    assert not train.task.is_running()
    # while it stopped, a notice said what was happening (the window had vanished with the process still busy)
    assert "saving what is kept" in w.closing_notice.text() and not w.closing_notice.isVisible()


def test_a_folder_dropped_on_the_window_is_scanned(qtbot, window, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent
    root = make_class_folder(tmp_path / "dropped", ["x", "y"], per_class=3, size=32)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(root))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(window.pages[0].is_complete, timeout=30000)
    assert window.state.scan.root == root and window.state.scan.classes == ["x", "y"]


def test_window_geometry_is_remembered(qtbot):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.resize(780, 640)  # inside the offscreen screen (800 x 800), above the minimum size
    first.close()
    second = MainWindow()
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (780, 640)


def test_garbage_is_collected_on_the_gui_thread_only(qtbot, qapp):
    import gc
    import weakref

    from app.gui import collect_garbage_on_gui_thread

    class Node:
        pass

    timer = collect_garbage_on_gui_thread(qapp, interval_ms=20)
    try:
        assert not gc.isenabled()  # no collection can start in a worker thread
        cycle = Node()
        cycle.me = cycle
        alive = weakref.ref(cycle)
        del cycle
        kept = [Node() for _ in range(gc.get_threshold()[0] + 1)]  # enough allocations to make one due
        assert alive() is not None and timer.isActive() and timer.interval() == 20
        timer.timeout.emit()  # what the timer does each interval, on the GUI thread
        assert alive() is None and len(kept) > gc.get_threshold()[0]
    finally:
        timer.stop()
        gc.enable()
