"""A window the user can trust: Cancel and Quit keep the work, an unfinished run offers to resume,
nothing stale is shown after a change, and the progress bar covers the whole run."""

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.main_window import MainWindow
from core.base.paths import data_dir
from core.training import runs
from core.training.events import BatchEnd, EpochEnd, FitStart, Prepare, TrainCallback
from tests.datagen import make_class_folder

STRATEGY, TRAIN, RESULTS = 2, 4, 5


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


@pytest.fixture
def window(qtbot, tmp_path):
    from core.data.dataset import scan_dataset
    w = MainWindow()
    qtbot.addWidget(w)
    w.confirm_quit_while_busy = lambda: True  # closing at teardown may meet work still running
    root = make_class_folder(tmp_path / "shapes", ["a", "b", "c"], per_class=8, size=48)
    w.state.scan = scan_dataset(root)
    w.state.auto_budget = None  # one plain run, by hand
    w.state.settings = replace(w.state.settings, image_size=48, batch_size=4, epochs=400, augmentation="none",
                               classifier_fit="epochs")
    yield w
    w.close()


def _train_until_an_epoch_ends(qtbot, page):
    with qtbot.waitSignal(page.task.event, timeout=120000, check_params_cb=lambda e: e[0] == "epoch"):
        page.start_training()


def test_cancel_keeps_the_best_epoch_as_a_model_and_resume_continues(qtbot, window):
    page = window.pages[TRAIN]
    window.show_page(TRAIN)
    _train_until_an_epoch_ends(qtbot, page)
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.cancel_button.click()
    result = window.state.result
    assert result is not None and result.cancelled and 1 <= len(result.history) < 400
    assert "cancelled after epoch" in page.banner.text() and not page.resume_button.isHidden()
    assert page.is_complete() and (result.run_dir / "transferlab.json").is_file()
    assert f"Cancelled after epoch {len(result.history)} of 400" in page.progress.format()
    assert page.progress.value() < page.progress.maximum()  # a walkthrough saw a full bar beside "cancelled"
    assert window.steps.item(RESULTS).flags() & Qt.ItemFlag.ItemIsEnabled  # "press Next": the step is open too
    done = len(result.history)
    window.show_page(RESULTS)  # Results work on it, and say how it was saved
    results = window.pages[RESULTS]
    qtbot.waitUntil(lambda: window.state.evaluation is not None and not results.is_busy(), timeout=60000)
    assert f"cancelled after epoch {done} of 400" in results.accuracy_label.text()
    window.show_page(TRAIN)
    page.resume_button.setFocus()
    with qtbot.waitSignal(page.task.event, timeout=120000, check_params_cb=lambda e: e[0] == "epoch"):
        page.resume_button.click()
    assert window.pages[TRAIN].task.is_running() and "Resuming the run" in page.log.toPlainText()
    assert window.focusWidget() is page.cancel_button  # not the next button in line (a walkthrough's finding)
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.cancel_button.click()
    assert len(window.state.result.history) > done  # continued where it stopped


def test_quit_during_training_keeps_the_model_and_the_next_start_offers_to_resume(qtbot, window, monkeypatch):
    page = window.pages[TRAIN]
    window.show_page(TRAIN)
    _train_until_an_epoch_ends(qtbot, page)
    run_dir = page.run_dir
    asked = []

    def answer(parent, title, text, *rest):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    del window.confirm_quit_while_busy  # the real question, answered Yes
    monkeypatch.setattr(QMessageBox, "question", answer)
    assert window.close()
    assert "the best epoch so far is saved" in asked[0] and "offers to continue" in asked[0]
    assert runs.read_record(run_dir)["status"] == runs.PAUSED and (run_dir / "transferlab.json").is_file()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.resume_bar.isVisibleTo(again) and "stopped when TransferLab was closed" in again.resume_bar.label.text()
    assert again.resume_bar.record["run_dir"] == str(run_dir)
    again.close()


def test_open_a_run_on_an_unfinished_run_offers_to_resume_it(qtbot, window, tmp_path):
    from core.training.trainer import train
    run_dir = data_dir() / "runs" / "stopped"

    class DieInEpoch2(TrainCallback):
        def on_epoch_end(self, e):
            if e.epoch == 2:
                raise KeyboardInterrupt  # the process dies: no model, a checkpoint after epoch 2

    with pytest.raises(KeyboardInterrupt):
        train(window.state.scan, replace(window.state.settings, epochs=6), run_dir, DieInEpoch2())
    assert window.opener.open(str(run_dir)) is None  # no "holds no trained model" error
    assert window.resume_bar.isVisibleTo(window) and "after epoch 2 of 6" in window.resume_bar.label.text()


def trained(qtbot, window, epochs: int):
    """The Train page after a plain run of ``epochs`` there, and that run's folder."""
    page = window.pages[TRAIN]
    window.state.settings = replace(window.state.settings, epochs=epochs)
    window.show_page(TRAIN)
    with qtbot.waitSignal(page.task.stopped, timeout=120000):
        page.start_training()
    return page, window.state.result.run_dir


def test_a_change_after_a_run_puts_its_results_aside(qtbot, window):
    page, run_dir = trained(qtbot, window, epochs=2)
    window.show_page(RESULTS)
    assert window.current_index == RESULTS
    window.state.settings = replace(window.state.settings, epochs=40)  # e.g. Back to the Freeze page, 40 epochs
    window.show_page(RESULTS)  # a click on "Results" in the step list
    assert window.current_index == TRAIN and window.state.result is None and not window.next_button.isEnabled()
    assert "put aside" in page.banner.text() and str(run_dir) in page.banner.text()
    assert page.progress.format() == "Not started" and not any(page.curves.point_counts().values())


def test_the_progress_bar_covers_a_40_epoch_two_stage_run(qtbot, window):
    page = window.pages[TRAIN]
    now = [0.0]
    page.clock = lambda: now[0]
    page._on_event(("prepare", Prepare("Computing the features of the validation images", 6, 6)))
    page._on_event(("start", FitStart(40, 1, 24, 6, "CPU", 10, 100, "test")))  # stage 1: one batch of features
    bar = page.progress
    assert bar.format() == "Epoch 1 of 40"  # not "…validation images: 0 / 1000" on the run's scale
    for epoch in range(1, 41):
        batches = 1 if epoch <= 2 else 8
        if epoch == 3:  # fine-tuning decodes the images once: a step with a bar of its own, 39 of 39 (a walkthrough
            # saw the bar stay full from there)
            page._on_event(("prepare", Prepare("Decoding the validation images (once)", 39, 39)))
        for b in range(1, batches + 1):
            now[0] += 0.5 if epoch <= 2 else 2.0
            page._on_event(("batch", BatchEnd(epoch, b, batches, 1.0, 0.5, 10.0, 1e-3), 1.0))
            assert bar.value() < bar.maximum()
        if epoch in (8, 11):
            assert f"Epoch {epoch} of 40" in bar.format()
            left = bar.format().split("about ")[1]
            page.__dict__.setdefault("lefts", []).append(left)
        page._on_event(("epoch", EpochEnd(epoch, 40, 1.0, 0.5, 1.0, 0.5, 1.0, 0.0, False)))
    assert page.lefts[0] != page.lefts[1]  # the time left counts down
    assert bar.value() < bar.maximum()  # full only when the run has finished


def test_tab_never_stops_on_the_invisible_page_scroller(qtbot, window):
    """A walkthrough counted Tab stops with nothing shown focused: the frameless area that scrolls a page."""
    from app.pages.base import VerticalScroll
    window.show()
    window.activateWindow()
    seen = []
    for _ in range(30):
        window.focusNextChild()
        seen.append(window.focusWidget())
    assert seen and not any(isinstance(w, VerticalScroll) for w in seen), seen


def test_tab_leaves_the_class_table(qtbot, window):
    window.show()
    data = window.pages[0]
    data.scan_folder(str(window.state.scan.root))
    qtbot.waitUntil(data.is_complete, timeout=30000)
    data.table.setFocus()
    qtbot.keyClick(data.table, Qt.Key.Key_Tab)
    assert window.focusWidget() is not data.table


def test_the_data_check_counts_first_and_shows_each_duplicate_group_as_pictures(qtbot, window, tmp_path):
    import shutil

    from tests.datagen import tree_fingerprint
    root = window.state.scan.root
    shutil.copy(next((root / "a").iterdir()), root / "b" / "copied from a.png")  # one wrong label
    before = tree_fingerprint(root)
    window.show()
    data = window.pages[0]
    data.scan_folder(str(root))
    qtbot.waitUntil(data.is_complete, timeout=30000)
    assert data.health_label.text().startswith("<p style='margin:0 0 4px 0'>1 picture appears under different "
                                               "classes (1 copy in a, 1 in b)")
    assert data.duplicates_button.isVisible()
    dialog = data.show_duplicates()
    qtbot.addWidget(dialog)
    groups = data.state.scan.health()["duplicates"]
    conflict = next(g for g in groups if g["cross_class"])
    assert dialog.list.count() == len(groups)  # every group listed, the conflicting labels first
    assert "Different classes: 1 copy in a, 1 in b" in dialog.list.item(0).text()
    assert sorted(dialog.shown_paths()) == sorted(conflict["paths"]) and "b/copied from a.png" in conflict["paths"]
    dialog.close()
    assert tree_fingerprint(root) == before  # looking never writes to the dataset


def test_enter_means_next_from_the_class_table_too(qtbot, window):
    window.show()
    data = window.pages[0]
    data.scan_folder(str(window.state.scan.root))
    qtbot.waitUntil(lambda: data.is_complete() and window.next_button.isEnabled(), timeout=30000)
    data.table.setFocus()
    qtbot.keyClick(data.table, Qt.Key.Key_Return)
    assert window.current_index == 1


def test_enter_means_next_from_the_model_table(qtbot, window):
    window.show()
    window.show_page(1)
    model = window.pages[1]
    qtbot.waitUntil(window.next_button.isEnabled, timeout=30000)
    model.table.setFocus()
    qtbot.keyClick(model.table, Qt.Key.Key_Return)
    assert window.current_index == 2


def test_back_while_measuring_stops_it_and_coming_back_measures_again(qtbot, window):
    """Measuring does not lock the wizard: Back stays available, leaving stops the measuring, and the
    Strategy step measures again when it is shown again."""
    strategy = window.pages[STRATEGY]
    window.reached = STRATEGY
    window.show_page(STRATEGY)
    assert strategy.task.is_running() and window.back_button.isEnabled() and not window.next_button.isEnabled()
    with qtbot.waitSignal(strategy.task.stopped, timeout=60000):
        window.go_back()
    assert window.current_index == STRATEGY - 1 and window.state.suggestion is None
    window.show_page(STRATEGY)
    assert strategy.task.is_running()
    qtbot.waitUntil(lambda: window.state.suggestion is not None and not strategy.is_busy(), timeout=60000)
    assert window.next_button.isEnabled()


def _buttons_at(qtbot, window, *buttons):
    """Where ``buttons`` are in the window, once its layout has settled."""
    window.layout().activate()
    qtbot.wait(50)
    return [b.mapTo(window, b.rect().topLeft()) for b in buttons]


def _train_page_shown(qtbot, window):
    window.show()
    window.show_page(TRAIN)
    qtbot.waitExposed(window)
    return window.pages[TRAIN]


def test_start_and_cancel_stay_put_when_a_banner_appears(qtbot, window):
    page = _train_page_shown(qtbot, window)
    before = _buttons_at(qtbot, window, page.start_button, page.cancel_button)
    page.banner.show_message("Training finished. Press Next to see the results.", "ok")
    assert page.banner.isVisible() and _buttons_at(qtbot, window, page.start_button, page.cancel_button) == before


def test_after_a_scan_the_focus_goes_to_next_not_to_the_button_beside_choose(qtbot, window, tmp_path):
    """The choose button is disabled while scanning, so Qt hands the focus to the next button ("Open a run…");
    when the scan ends, the focus goes to Next."""
    data = window.pages[0]
    window.show()
    window.show_page(0)
    data.choose_button.setFocus()
    root = window.state.scan.root
    window.state.scan = None
    with qtbot.waitSignal(data.task.stopped, timeout=60000):
        data.scan_folder(str(root))
        data.open_run_button.setFocus()  # where Qt put it while the choose button was disabled
    assert window.next_button.isEnabled() and window.focusWidget() is window.next_button


def test_start_stays_put_when_resume_appears_and_dialogs_open_beside_the_dataset(qtbot, window):
    page = _train_page_shown(qtbot, window)
    before = _buttons_at(qtbot, window, page.start_button)
    page.resume_button.show()  # after Cancel: "Resume" appears beside Start
    assert _buttons_at(qtbot, window, page.start_button) == before
    results = window.pages[RESULTS]
    assert results.start_folder("results/last_test_folder") == str(window.state.scan.root.parent)


def test_another_folder_after_a_run_closes_results_and_try_until_a_new_model(qtbot, window, tmp_path):
    page = window.pages[TRAIN]
    window.state.settings = replace(window.state.settings, epochs=1)
    window.show_page(TRAIN)
    with qtbot.waitSignal(page.task.stopped, timeout=120000):
        page.start_training()
    window.show_page(RESULTS)
    assert window.steps.item(RESULTS).flags() & Qt.ItemFlag.ItemIsEnabled
    window.show_page(0)
    other = make_class_folder(tmp_path / "other", ["x", "y"], per_class=6, size=48)
    with qtbot.waitSignal(window.pages[0].task.stopped, timeout=60000):
        window.pages[0].scan_folder(str(other))
    assert window.state.result is None
    for step in (RESULTS, RESULTS + 1):  # greyed out: a click cannot land on the earlier folder's model
        assert not window.steps.item(step).flags() & Qt.ItemFlag.ItemIsEnabled
    window.steps.setCurrentRow(RESULTS)
    assert window.current_index == 0


def test_quitting_auto_says_whether_a_model_is_kept(window, monkeypatch):
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    train = window.pages[TRAIN]
    monkeypatch.setattr(train, "is_busy", lambda: True)
    train.run_dir, train.finished_candidates = None, 0  # Auto, its first candidate still training
    assert MainWindow.confirm_quit_while_busy(window) is False
    train.finished_candidates = 2
    MainWindow.confirm_quit_while_busy(window)
    assert "no model is kept" in asked[0] and "best of the 2 candidates finished so far is kept" in asked[1]


def test_scan_again_reads_the_same_folder_with_the_images_added_since(qtbot, window, tmp_path):
    page = window.pages[0]
    root = make_class_folder(tmp_path / "grows", ["a", "b"], per_class=4, size=48)
    assert page.rescan_button.isHidden()
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.scan_folder(str(root))
    assert not page.rescan_button.isHidden() and window.state.scan.class_counts() == {"a": 4, "b": 4}
    make_class_folder(root, {"c": 2}, per_class=3, size=48)  # the user adds a class in the file manager
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        qtbot.mouseClick(page.rescan_button, Qt.MouseButton.LeftButton)
    assert window.state.scan.class_counts() == {"a": 4, "b": 4, "c": 3} and page.table.rowCount() == 3


def test_f1_explains_the_words_a_domain_expert_would_look_up(qtbot, window):
    """A walkthrough listed words a newcomer had to look up; F1 (or the button under the steps) explains them."""
    from app.glossary import WORDS, GlossaryDialog
    from PySide6.QtWidgets import QApplication
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)  # a shortcut needs its window active
    qtbot.keyClick(window, Qt.Key.Key_F1)
    dialog = window.findChild(GlossaryDialog)
    assert dialog is not None and dialog.isVisible()
    listed = " ".join(WORDS).lower()
    for word in ("seed", "stratified", "parameters", "imagenet top-1", "freeze depth", "learning rate", "epoch",
                 "batch size", "loss", "precision", "recall", "f1", "temperature", "ece", "grad-cam", "onnx",
                 "auroc", "logme", "interval", "baseline"):
        assert word in listed, word
    dialog.filter.setText("epoch")
    assert "Epoch" in dialog.shown_terms() and "ONNX, TorchScript" not in dialog.shown_terms()
    assert "One pass of training" in dialog.text.toPlainText()
    dialog.filter.setText("zzz")
    assert dialog.shown_terms() == [] and "No word matches" in dialog.text.toPlainText()
    dialog.close()
    # the charts and the model table say it where the word is shown
    assert "Loss" in window.pages[4].curves.loss_plot.toolTip()
    assert "first guess" in window.pages[1].table.horizontalHeaderItem(3).toolTip()


def test_an_opened_run_stays_current_after_visiting_strategy(qtbot, window):
    """A walkthrough opened a run trained by hand, clicked through Strategy, and found it put aside: measuring had
    ticked Auto and replaced the run's settings."""
    window.state.settings = replace(window.state.settings, strategy="feature-extraction", freeze_depth=0,
                                    classifier_fit="converged", epochs=1)
    window.show()
    window.show_page(TRAIN)
    with qtbot.waitSignal(window.pages[TRAIN].task.stopped, timeout=120000):
        window.pages[TRAIN].start_training()
    run_dir = str(window.state.run_dir)
    window.state.auto_budget = "balanced"  # as a fresh window starts
    window.state.suggestion = None
    window.open_run(run_dir)
    assert window.state.auto_budget is None and not window.state.result_is_stale()
    strategy = window.pages[2]
    with qtbot.waitSignal(strategy.task.stopped, timeout=120000):
        window.show_page(2)
    assert not strategy.auto_box.isChecked() and window.state.auto_budget is None
    assert not window.state.result_is_stale() and "are kept" in strategy.banner.text()
    window.show_page(RESULTS)
    assert window.current_index == RESULTS and window.state.run_dir is not None


def test_the_step_list_does_not_skip_past_a_step_whose_next_is_disabled(qtbot, window):
    window.show()
    window.show_page(TRAIN)
    window.reached = RESULTS + 1  # as after a run: every step was open
    window.show_page(1)
    model = window.pages[1]
    model.is_complete = lambda: False  # e.g. a model whose weights are not on this computer
    window._update_buttons()
    assert not window.next_button.isEnabled()
    window.steps.setCurrentRow(RESULTS)
    assert window.current_index == 1
    qtbot.waitUntil(lambda: window.steps.currentRow() == 1, timeout=2000)  # the highlight comes back too
    window.steps.setCurrentRow(0)  # back is always allowed
    assert window.current_index == 0


def test_the_progress_bar_covers_all_of_an_auto_plan_and_never_goes_back(qtbot, window):
    """A walkthrough saw Auto's bar restart for each candidate and each of its steps."""
    from types import SimpleNamespace
    page = window.pages[TRAIN]
    page._begin("Auto")
    page._auto_plan = SimpleNamespace(candidates=[SimpleNamespace(predicted_s=10.0), SimpleNamespace(predicted_s=30.0)])
    bar, seen = page.progress, []

    def step(*event):
        page._on_event(event)
        seen.append(bar.value() / bar.maximum())
    step("candidate", 0, 2, "Classifier on the final features")
    for done in range(1, 11):
        step("prepare", Prepare("Computing the features of the training images", done, 10))
    step("candidate", 1, 2, "Fine-tuning")
    step("prepare", Prepare("Computing the features of the validation images", 5, 5))
    step("start", FitStart(4, 2, 24, 6, "CPU", 10, 100, "test"))
    for epoch in range(1, 5):
        for b in (1, 2):
            step("batch", BatchEnd(epoch, b, 2, 1.0, 0.5, 10.0, 1e-3), 1.0)
        step("epoch", EpochEnd(epoch, 4, 1.0, 0.5, 1.0, 0.5, 1.0, 0.0, False))
    step("prepare", Prepare("Finishing the model", 0, 0))
    assert seen == sorted(seen) and seen[-1] > 0.95  # onwards only, over the whole plan
    assert seen[10] == pytest.approx(0.125, abs=0.01)  # its preparing steps: the first half of its share
    assert seen[11] == pytest.approx(0.25, abs=0.01)  # the first candidate done: 10 s of the plan's 40
    assert "Try 2 of 2" in bar.format()
