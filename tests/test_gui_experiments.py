"""The experiment windows: comparing candidates side by side and opening the winner in Results."""

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from core.data.dataset import scan_dataset
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
    # the feature-extraction classifier is one converged fit; the rest train for the budget
    assert sorted(dialog.curves.epochs_drawn(label) for label in labels) == [1, 2]
    assert "Best:" in dialog.status.text() and dialog.open_button.isEnabled()
    best = dialog.board.rows[0]
    with qtbot.waitSignal(dialog.runChosen, timeout=5000):
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert window.current_index == 5 and str(window.state.run_dir) == best["run_dir"]
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=60000)
    assert window.state.evaluation.accuracy == pytest.approx(best["accuracy"])


def test_rank_models_for_my_data_fills_the_fit_column(qtbot, window):
    window.show_page(1)
    page = window.pages[1]
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    page.rank_button.setFocus()
    with qtbot.waitSignal(page.rank_task.stopped, timeout=180000):
        qtbot.keyClick(page.rank_button, Qt.Key.Key_Space)  # by keyboard
        assert page.rank_busy.cancel_button.hasFocus()  # not "Compare models…", next in line
    assert page.table.hasFocus()  # back on the ranked table, not on a button a keypress would start
    assert not page.banner.text()
    fit = {page.table.item(r, 0).text(): page.table.item(r, 6).text() for r in range(page.table.rowCount())}
    ranks = sorted(int(text[1:].split(" ")[0]) for text in fit.values() if text.startswith("#"))
    assert ranks == [1, 2, 3]  # the three models whose weights ship with TransferLab
    assert fit["resnet50"].startswith("not scored")
    assert "Best fit for your images" in page.rank_label.text() and "LogME" in page.rank_label.text()
    winner = next(name for name, text in fit.items() if text.startswith("#1 "))
    assert window.state.settings.model_name == winner and "(selected)" in page.rank_label.text()
    assert "lead over" in page.rank_label.text()
    lite0 = next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == "tf_efficientnet_lite0")
    assert "ranked" in page.table.item(lite0, 6).toolTip()
    other = next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() != winner)
    page.table.selectRow(other)  # the user picks another model: the caption no longer says the best is selected
    other_name = page.table.item(other, 0).text()
    assert window.state.settings.model_name == other_name
    assert "(selected)" not in page.rank_label.text() and f"you picked <b>{other_name}</b> instead" in \
        page.rank_label.text()
    page.table.selectRow(next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == winner))
    assert "(selected)" in page.rank_label.text()


def test_fine_tuning_methods_are_applied_to_the_settings(qtbot, tmp_path):
    from app.methods_dialog import MethodsDialog
    from app.state import WizardState
    from core.training.settings import TrainSettings
    root = make_class_folder(tmp_path / "shapes", ["circles", "squares"], per_class=8, size=48)
    frozen = WizardState(scan=scan_dataset(root), settings=TrainSettings(image_size=48, batch_size=8))
    dialog = MethodsDialog(frozen)
    qtbot.addWidget(dialog)
    assert not dialog.two_stage.isEnabled() and not dialog.l2sp.isEnabled()  # nothing to fine-tune
    with qtbot.waitSignal(dialog.lr_task.stopped, timeout=120000):
        qtbot.mouseClick(dialog.lr_button, Qt.MouseButton.LeftButton)
    assert not dialog.lr_plot.isHidden() and "Suggested" in dialog.lr_text.text()
    qtbot.mouseClick(dialog.lr_use, Qt.MouseButton.LeftButton)
    dialog.accept()
    assert frozen.settings.head_lr == pytest.approx(dialog.lr_result.suggestion)

    state = WizardState(scan=frozen.scan, settings=TrainSettings(strategy="fine-tune-top", freeze_depth=2, epochs=4))
    dialog = MethodsDialog(state)
    qtbot.addWidget(dialog)
    dialog.two_stage.setChecked(True)
    dialog.head_epochs.setValue(1)
    dialog.gradual.setChecked(True)
    dialog.l2sp.setChecked(True)
    dialog.l2sp_slider.setValue(4)
    dialog.adapt.setChecked(True)
    dialog.target_edit.setText(str(tmp_path / "missing"))
    dialog.accept()
    assert "does not exist" in dialog.banner.text() and state.adaptation is None  # nothing applied
    dialog.target_edit.setText(str(tmp_path))
    dialog.accept()
    s = state.settings
    assert (s.two_stage, s.head_epochs, s.gradual_unfreeze, s.l2sp_alpha) == (True, 1, True, 0.1)
    assert state.adaptation.target == str(tmp_path) and state.adaptation.test is None
    s.validate()  # what the dialog produced is a valid run


def test_a_domain_adapted_run_from_the_train_page(qtbot, window, tmp_path):
    from core.methods.adaptation import Adaptation
    from tests.datagen import make_image
    target = tmp_path / "new-camera"
    target.mkdir()
    for i in range(8):
        make_image(i % 2, 48, seed=500 + i).convert("L").convert("RGB").save(target / f"{i}.png")
    window.state.settings = replace(window.state.settings, strategy="fine-tune-top", freeze_depth=1, epochs=2)
    window.state.adaptation = Adaptation(str(target), str(window.state.scan.root))
    window.reached = 4
    window.show_page(4)
    train = window.pages[4]
    with qtbot.waitSignal(train.task.stopped, timeout=180000):
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    assert not train.banner.text().startswith("Error") and window.state.result is not None
    log = train.log.toPlainText()
    assert "Domain adaptation" in log and "new setting" in log
    assert len(window.state.result.domain_accuracy) == 2


def test_probe_every_layer_draws_the_chart(qtbot, window):
    window.show_page(2)
    page = window.pages[2]
    qtbot.waitUntil(lambda: window.state.suggestion is not None and not page.task.is_running(), timeout=120000)
    with qtbot.waitSignal(page.probe_task.stopped, timeout=120000):
        qtbot.mouseClick(page.probe_button, Qt.MouseButton.LeftButton)
    probe = window.state.suggestion.extra["probe"]
    assert not page.probe_chart.isHidden() and len(page.probe_chart.heights) == len(probe["levels"]) + 1
    assert "cross-validation" in page.probe_chart.caption.text()
    page.radios["truncated"].setChecked(True)
    assert window.state.settings.cut_index == probe["best_index"]


def test_open_a_run_folder_even_when_its_images_moved(qtbot, window, tmp_path):
    from core.training.settings import TrainSettings
    from core.training.trainer import train
    data = make_class_folder(tmp_path / "elsewhere" / "shapes", ["circles", "squares"], per_class=8, size=48)
    train(scan_dataset(data), TrainSettings(image_size=48, epochs=2, batch_size=8), tmp_path / "run")
    moved = data.rename(tmp_path / "moved")
    asked = []
    window.choose_run_folder = lambda: str(tmp_path / "run")
    window.choose_dataset_folder = lambda message: asked.append(message) or str(moved)
    window.choose_and_open_run()
    qtbot.waitUntil(lambda: window.current_index == 5 and window.state.evaluation is not None, timeout=60000)
    assert asked and "not at" in asked[0]
    assert window.state.run_dir == tmp_path / "run" and window.state.scan.root == moved
    assert window.pages[4].curves.point_counts()["epochs"] == 2
    # the Results page may still be filling its gallery: opening another run waits for that
    qtbot.waitUntil(lambda: not any(p.is_busy() for p in window.pages), timeout=60000)
    window.choose_run_folder = lambda: str(tmp_path)  # not a run
    window.choose_and_open_run()
    assert "no trained model" in window.pages[0].banner.text()


def test_cluster_dialog_saves_a_config_and_shows_the_command(qtbot, window, tmp_path):
    import json
    dialog = window.pages[4].open_cluster()
    dialog.choose_config_file = lambda: str(tmp_path / "transferlab-run.json")
    dialog.gpus.setValue(4)
    assert not dialog.copy_button.isEnabled()
    dialog.save()
    config = json.loads((tmp_path / "transferlab-run.json").read_text())
    assert config["data"] == str(window.state.scan.root) and config["settings"]["image_size"] == 48
    from core.training.distributed import load_config
    loaded = load_config(tmp_path / "transferlab-run.json")  # what `train --config` reads on the server
    assert str(loaded.data) == str(window.state.scan.root)
    command = dialog.command.toPlainText()
    assert "torchrun --standalone --nproc_per_node=4 -m core.cli train --config transferlab-run.json" in command
    assert "--distributed" in command and dialog.copy_button.isEnabled()
    dialog.nodes.setValue(3)
    assert "--nnodes=3" in dialog.command.toPlainText()
    dialog.reject()
