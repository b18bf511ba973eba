"""The fifth walkthrough's Train page: an opened run's curves stayed (with Resume) after the folder changed; the
bar filled on a preparing step ("Decoding the validation images (once): 32 / 32") and fell back for the epochs."""

from core.training.events import BatchEnd, EpochEnd, FitStart, Prepare
from tests.test_gui_trust import TRAIN, _private_data_dir, trained, window  # noqa: F401 (fixtures)


def test_a_bar_made_by_hand_never_goes_back_from_its_preparing_steps(qtbot, window):
    page = window.pages[TRAIN]
    now = [0.0]
    page.clock = lambda: now[0]
    page._begin("test")
    seen = []
    for done in range(1, 33):
        page._on_event(("prepare", Prepare("Decoding the validation images (once)", done, 32)))
        seen.append(page.progress.value() / page.progress.maximum())
    assert seen[-1] <= 0.1 and "32 / 32" in page.progress.format()  # the count in words, not a full bar
    page._on_event(("start", FitStart(4, 4, 24, 6, "CPU", 10, 100, "test")))
    for epoch in range(1, 5):
        for b in range(1, 5):
            now[0] += 1.0
            page._on_event(("batch", BatchEnd(epoch, b, 4, 1.0, 0.5, 10.0, 1e-3), 1.0))
            seen.append(page.progress.value() / page.progress.maximum())
        page._on_event(("epoch", EpochEnd(epoch, 4, 1.0, 0.5, 1.0, 0.5, 1.0, 0.0, False)))
    assert seen == sorted(seen) and 0.9 < seen[-1] < 1
    page._on_event(("prepare", Prepare("Learning when to say 'I don't know'", 0, 0)))  # no count: finishing
    assert page.progress.maximum() > 0 and page.progress.value() / page.progress.maximum() >= seen[-1]
    assert "I don't know" in page.progress.format()  # words, not 18 s of a busy bar that shows none


def test_an_opened_run_is_put_aside_on_train_when_the_data_changed(qtbot, window):
    page, run_dir = trained(qtbot, window, epochs=1)
    assert page.shown == run_dir and any(page.curves.point_counts().values())
    window.state.result = None  # a new folder was read (the Data step clears the result)
    page.on_enter()
    assert page.shown is None and not any(page.curves.point_counts().values())
    assert "put aside" in page.banner.text() and str(run_dir) in page.banner.text()
    assert not page.resume_button.isVisibleTo(page)


def test_auto_says_when_a_try_stopped_early(qtbot, window):
    """A walkthrough's Auto try stopped early (auto.json said so); the log said only its accuracy and time."""
    page = window.pages[TRAIN]
    page._begin("test")
    page._on_event(("row", {"title": "Fine-tune the top", "val_accuracy": 0.974, "seconds": 70.0, "epochs": 2,
                            "stopped_early": True}))
    page._on_event(("row", {"title": "Classifier only", "val_accuracy": 0.9, "seconds": 5.0, "epochs": 3,
                            "stopped_early": False}))
    lines = [line.split("  ", 1)[-1] for line in page.log.toPlainText().splitlines()]  # after the time
    assert "Fine-tune the top: validation accuracy 97.4% in 70 s (stopped early after epoch 2: no longer " \
           "improving)" in lines
    assert "Classifier only: validation accuracy 90.0% in 5 s" in lines


def test_a_resumed_run_starts_its_bar_where_it_stood_and_never_shows_a_wordless_busy_bar(qtbot, window):
    """A walkthrough quit at 87% (epoch 7 of 8 done); after Resume the bar was a striped busy bar for 3 s, then
    10% while decoding the validation images, then 85%."""
    from dataclasses import replace

    from app.pages.train_bar import resumed_share
    page = window.pages[TRAIN]
    page._begin("test")
    assert page.progress.maximum() > 0 and page.progress.format() == "Preparing…"  # a bar with words
    settings = replace(window.state.settings, epochs=8, two_stage=False)
    assert resumed_share(7, settings) == 7 / 8
    assert resumed_share(3, replace(settings, epochs=6, two_stage=True, head_epochs=2)) < 0.4  # not 3 of 6
    page._floor = resumed_share(7, settings)  # as resume_training sets it
    page._on_event(("prepare", Prepare("Decoding the validation images (once)", 5, 18)))
    assert page.progress.value() / page.progress.maximum() >= 7 / 8


def test_ctrl_q_quits_as_the_windows_close_button_does(qtbot, window):
    """A walkthrough found no Quit: Ctrl+Q did nothing."""
    from PySide6.QtCore import Qt
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)


def test_a_failed_run_says_stopped_not_the_words_of_the_step_it_failed_in(qtbot, window):
    page = window.pages[TRAIN]
    page._begin("test")
    page._on_event(("prepare", Prepare("Decoding the validation images (once)", 5, 18)))
    page.task.failed.emit("The file x.png could not be read")
    assert page.progress.format() == "Stopped" and "Failed: The file x.png" in page.log.toPlainText()
