"""Walkthrough 4 ("a window the user can trust: nothing stale, nothing lost"): Results after a cancelled run,
the words of a run stopped by quitting, the settings of a resumed run, and the step list's unreachable steps."""

from dataclasses import replace

from PySide6.QtCore import Qt

from app.main_window import MainWindow
from core.data.dataset import scan_dataset
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder
from tests.test_gui import _private_data_dir, window  # noqa: F401 - the same fixtures

DATA, MODEL, STRATEGY, FREEZE, TRAIN, RESULTS = range(6)


def _tiny(settings: TrainSettings, epochs: int) -> TrainSettings:
    return replace(settings, image_size=48, batch_size=4, epochs=epochs, augmentation="none", classifier_fit="epochs")


def test_results_after_a_cancelled_run_never_scores_an_earlier_folders_model(qtbot, window, tmp_path):
    from core.base.paths import data_dir
    photos = scan_dataset(make_class_folder(tmp_path / "photos", ["astronaut", "brick", "coffee"], per_class=6,
                                            size=48))
    earlier = data_dir() / "runs" / "photos-run"
    train(photos, _tiny(TrainSettings(), 1), earlier)
    window.state.scan = photos
    window.open_run(str(earlier))  # the earlier run of this session, shown on Results
    results = window.pages[RESULTS]
    qtbot.waitUntil(lambda: window.state.evaluation is not None and not results.is_busy(), timeout=60000)
    window.state.relabelled(photos)  # labels corrected on it (Results or Try it): it is "the model before"
    faces = make_class_folder(tmp_path / "faces", ["face", "not_face"], per_class=8, size=48)
    window.show_page(DATA)
    with qtbot.waitSignal(window.pages[DATA].task.stopped, timeout=60000):
        window.pages[DATA].scan_folder(str(faces))
    window.state.auto_budget = None
    window.state.settings = _tiny(window.state.settings, 400)
    window.show_page(TRAIN)
    page = window.pages[TRAIN]
    with qtbot.waitSignal(page.task.event, timeout=120000, check_params_cb=lambda e: e[0] == "epoch"):
        page.start_training()
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.cancel_button.click()
    window.go_next()  # at once
    assert window.current_index == RESULTS and window.state.run_dir == page.state.result.run_dir != earlier
    assert str(earlier) not in results.where_label.text()  # nothing of the photos run while measuring
    assert results.confusion.rowCount() == 0 and results.per_class.rowCount() == 0
    qtbot.waitUntil(lambda: window.state.evaluation is not None and not results.is_busy(), timeout=60000)
    qtbot.wait(50)
    qtbot.waitUntil(lambda: not results.relabel_bar.task.is_running(), timeout=60000)
    assert window.state.evaluation.classes == ["face", "not_face"]
    assert "not known" not in results.relabel_bar.label.text() and results.relabel_bar.isHidden()
    assert window.state.before_relabel is None  # the photos model is not "the model before" of the faces
    assert results.banner.isHidden() and window.back_button.isEnabled()
    window.show_page(RESULTS + 1)  # Try it names the model as stopped early, as the Train page's bar does
    line = window.pages[RESULTS + 1].model_label.text()
    assert "validation accuracy" in line and " · cancelled after epoch " in line and line.endswith(" of 400"), line


def _paused_manual_run(tmp_path, epochs: int = 12, stop_after: int = 2):
    """A run trained by hand (Auto off), stopped by quitting TransferLab after epoch ``stop_after``."""
    from core.base.cancel import CancelToken
    from core.base.paths import data_dir
    from core.training import runs
    from core.training.events import TrainCallback
    root = make_class_folder(tmp_path / "my photos", ["a", "b"], per_class=8, size=48)
    run_dir = data_dir() / "runs" / "2026-12-06_120000_tf_efficientnet_lite0"
    token = CancelToken()

    class QuitAfter(TrainCallback):
        def on_epoch_end(self, e):
            if e.epoch == stop_after:
                token.cancel()  # the window's Quit: Cancel, then the run is marked paused

    settings = replace(_tiny(TrainSettings(), epochs), strategy="fine-tune-top", freeze_depth=1, head_lr=0.0007)
    train(scan_dataset(root), settings, run_dir, QuitAfter(), token)
    assert runs.pause(run_dir)
    return run_dir


def test_resuming_at_start_shows_the_runs_own_settings_as_open_a_run_does(qtbot, window, tmp_path):
    run_dir = _paused_manual_run(tmp_path)
    again = MainWindow()
    qtbot.addWidget(again)
    again.confirm_quit_while_busy = lambda: True
    assert again.state.auto_budget == "balanced"  # a fresh window: Auto on
    train_page = again.pages[TRAIN]
    with qtbot.waitSignal(train_page.task.event, timeout=120000, check_params_cb=lambda e: e[0] == "epoch"):
        again.resume_bar.resume_button.click()
    with qtbot.waitSignal(train_page.task.stopped, timeout=60000):
        train_page.cancel_training()
    assert again.state.auto_budget is None and again.state.settings.epochs == 12
    assert again.state.settings.strategy == "fine-tune-top" and again.state.settings.head_lr == 0.0007
    assert "Auto" not in train_page.plan.text() and "12 epochs" in train_page.plan.text()
    assert train_page.run_dir == str(run_dir) or str(train_page.state.result.run_dir) == str(run_dir)
    again.show_page(FREEZE)
    assert "Auto is on" not in again.pages[FREEZE].banner.text()
    again.close()


def test_a_run_stopped_by_quitting_says_so_and_its_bar_shows_how_far_it_got(qtbot, window, tmp_path):
    run_dir = _paused_manual_run(tmp_path)
    assert window.opener.open(str(run_dir)) is None  # Open a run…: its folder is read again, then Results
    qtbot.waitUntil(lambda: window.current_index == RESULTS, timeout=60000)
    assert "stopped when TransferLab was closed after epoch 2 of 12" in window.resume_bar.label.text()
    results = window.pages[RESULTS]
    qtbot.waitUntil(lambda: window.state.evaluation is not None and not results.is_busy(), timeout=60000)
    words = results.accuracy_label.text()
    assert "stopped when TransferLab was closed after epoch 2 of 12" in words and "cancelled" not in words
    bar = window.pages[TRAIN].progress
    assert (bar.value(), bar.maximum()) == (2, 12)  # not a full bar beside "Opened"
    assert "closed after epoch 2 of 12" in bar.format() and "Resume" in bar.format()
    assert not window.pages[TRAIN].resume_button.isHidden()


def test_steps_that_cannot_be_reached_look_greyed_and_say_why(qtbot, window, tmp_path):
    from core.base.paths import data_dir
    shapes = scan_dataset(make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=6, size=48))
    run_dir = data_dir() / "runs" / "shapes-run"
    train(shapes, _tiny(TrainSettings(), 1), run_dir)
    window.state.scan = shapes
    window.open_run(str(run_dir))
    results = window.pages[RESULTS]
    qtbot.waitUntil(lambda: window.state.evaluation is not None and not results.is_busy(), timeout=60000)
    window.show_page(MODEL)
    window.pages[MODEL].select_model("resnet18")  # another model: the later steps wait for it
    assert window.state.settings.model_name == "resnet18"
    for step in (TRAIN, RESULTS):
        item = window.steps.item(step)
        assert not item.flags() & Qt.ItemFlag.ItemIsEnabled  # greyed, as a click does nothing
        assert item.toolTip().startswith("Finish '")  # and it says what to do
    assert window.steps.item(DATA).flags() & Qt.ItemFlag.ItemIsEnabled and not window.steps.item(DATA).toolTip()
    window.steps.setCurrentRow(RESULTS)
    assert window.current_index == MODEL
