"""The offer to resume a run stopped by quitting goes as soon as that run is resumed another way (Open a run…, then
the Train page's Resume), and its buttons, if still clicked, never act on a run that is training or has finished
(a walkthrough saw the offer stay up, and its Resume put the finished model aside)."""

from app.main_window import MainWindow
from core.training import runs
from tests.test_gui import _private_data_dir  # noqa: F401 - the same fixture
from tests.test_walk4_flow import _paused_manual_run

TRAIN, RESULTS = 4, 5


def test_the_offer_goes_when_its_run_is_resumed_on_the_train_page(qtbot, tmp_path):
    run_dir = _paused_manual_run(tmp_path, epochs=4, stop_after=2)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.confirm_quit_while_busy = lambda: True
    bar, page = w.resume_bar, w.pages[TRAIN]
    assert bar.isVisible() and "stopped when TransferLab was closed after epoch 2 of 4" in bar.label.text()
    assert w.opener.open(str(run_dir)) is None  # Open a run…
    qtbot.waitUntil(lambda: w.current_index == RESULTS, timeout=60000)
    qtbot.waitUntil(lambda: not w.pages[RESULTS].is_busy(), timeout=60000)
    w.show_page(TRAIN)
    with qtbot.waitSignal(page.task.event, timeout=120000, check_params_cb=lambda e: e[0] == "epoch"):
        page.resume_button.click()  # the Train page's Resume
    assert bar.isHidden()  # the offer went as the run was resumed
    bar.resume_button.click()  # a stale click (e.g. queued before it went): nothing happens to the training run
    bar.discard_button.click()
    assert page.task.is_running() and runs.read_record(run_dir)["status"] != runs.DISCARDED
    assert "resumed already" in page.banner.text()
    qtbot.waitUntil(lambda: not page.task.is_running(), timeout=120000)
    result = w.state.result
    assert [e["epoch"] for e in result.history] == [1, 2, 3, 4]
    assert runs.read_record(run_dir)["status"] == runs.FINISHED and bar.isHidden()
    bar.resume_button.click()  # after it finished: the finished model stays
    bar.discard_button.click()
    assert w.state.result is result and not page.task.is_running() and w.current_index == TRAIN
    assert "put aside" not in page.log.toPlainText() and "Failed" not in page.log.toPlainText()
    assert "resumed already" in page.banner.text() and bar.isHidden()
    assert runs.read_record(run_dir)["status"] == runs.FINISHED
    w.close()
