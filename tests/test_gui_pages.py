"""Data, Model and Train pages on their own, driven offscreen with qtbot."""

import time
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt, QTimer

from app.pages.data_page import DataPage
from app.pages.model_page import ModelPage
from app.pages.train_page import TrainPage
from app.resources import sample_data_dir
from app.state import WizardState
from app.warmup import import_heavy_modules
from core.data.dataset import scan_dataset
from core.training.settings import TrainSettings
from tests.datagen import make_class_folder, tree_fingerprint


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


def test_data_page_scans_in_the_background_and_shows_classes(qtbot, tmp_path):
    root = make_class_folder(tmp_path / "data", ["cats", "dogs"], per_class=5, size=40)
    (root / "cats" / "broken.jpg").write_bytes(b"not really a jpeg")
    before = tree_fingerprint(root)
    page = DataPage(WizardState())
    qtbot.addWidget(page)
    page.scan_folder(str(root))
    qtbot.waitUntil(page.is_complete, timeout=20000)
    assert page.table.rowCount() == 2 and page.table.item(0, 0).text() == "cats"
    assert page.table.item(0, 1).text() == "5"
    assert page.skipped_list.count() == 1 and "broken.jpg" in page.skipped_list.item(0).text()
    assert page.table.cellWidget(0, 2).layout().count() >= 3  # thumbnails
    assert tree_fingerprint(root) == before
    assert "label sheet" not in page.summary.text()
    from core.data.label_sheet import record  # a correction kept beside the folder: the scan applies it and says so
    record(root, {root / "cats" / sorted(p.name for p in (root / "cats").iterdir() if p.suffix == ".png")[0]: "dogs"})
    page.scan_folder(str(root))
    qtbot.waitUntil(lambda: "label sheet" in page.summary.text(), timeout=20000)
    assert page.table.item(0, 1).text() == "4" and "1 image relabelled" in page.summary.text()
    assert tree_fingerprint(root) == before


def test_data_page_explains_an_unusable_folder(qtbot, tmp_path):
    root = make_class_folder(tmp_path / "one", ["only"], per_class=3, size=32)
    page = DataPage(WizardState())
    qtbot.addWidget(page)
    page.scan_folder(str(root))
    qtbot.waitUntil(lambda: bool(page.banner.text()), timeout=20000)
    assert "only" in page.banner.text() and not page.is_complete()


def test_sample_data_button_loads_the_bundled_dataset(qtbot):
    page = DataPage(WizardState())
    qtbot.addWidget(page)
    page.sample_button.click()
    qtbot.waitUntil(page.is_complete, timeout=30000)
    assert page.state.scan.classes == ["brick", "grass", "gravel"]
    assert sum(page.state.scan.class_counts().values()) == 72 and not page.state.scan.skipped
    assert (sample_data_dir().parent / "sample_data_LICENSE.txt").is_file()


def test_data_page_split_settings_reach_the_training_settings(qtbot):
    state = WizardState()
    page = DataPage(state)
    qtbot.addWidget(page)
    page.val_spin.setValue(30)
    page.seed_spin.setValue(7)
    assert state.settings.val_fraction == pytest.approx(0.3) and state.settings.seed == 7


def test_model_page_lists_the_catalog_and_remembers_the_choice(qtbot):
    page = ModelPage(WizardState())
    qtbot.addWidget(page)
    page.on_enter()
    assert page.table.rowCount() >= 9
    names = [page.table.item(r, 0).text() for r in range(page.table.rowCount())]
    assert names[0] == "tf_efficientnet_lite0" and "bundled" in page.table.item(0, 5).text()
    assert page.is_complete()
    page.select_model("tf_efficientnet_lite1")
    assert page.state.settings.model_name == "tf_efficientnet_lite1"
    again = ModelPage(WizardState())
    qtbot.addWidget(again)
    assert again.state.settings.model_name == "tf_efficientnet_lite1"


def test_model_page_imports_a_weights_file_and_refuses_a_bad_one(qtbot, tmp_path, monkeypatch):
    import timm
    from safetensors.torch import save_file
    page = ModelPage(WizardState())
    qtbot.addWidget(page)
    good = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("tf_efficientnet_lite0").state_dict().items()},
              str(good))
    monkeypatch.setattr(page, "choose_weights_file", lambda: str(good))
    page.import_button.click()
    # The button stays disabled until the job's thread has ended, a moment after its result arrives.
    qtbot.waitUntil(lambda: page.state.settings.weights_file == str(good) and page.import_button.isEnabled(),
                    timeout=20000)
    bad = tmp_path / "notes.pth"
    bad.write_text("hello")
    monkeypatch.setattr(page, "choose_weights_file", lambda: str(bad))
    page.import_button.click()
    qtbot.waitUntil(lambda: "Refused" in page.banner.text() or "Cannot" in page.banner.text(), timeout=20000)
    assert page.state.settings.weights_file == str(good)


def _trained_state(tmp_path, epochs=2, image_size=64, **kw) -> WizardState:
    root = make_class_folder(tmp_path / "shapes", ["a", "b", "c"], per_class=8, size=48)
    settings = TrainSettings(image_size=image_size, batch_size=4, epochs=epochs, **kw)
    return WizardState(scan=scan_dataset(root), settings=settings)


def test_training_keeps_the_window_responsive_and_draws_curves(qtbot, tmp_path):
    # Fine-tuning everything at 160 px keeps the worker busy for several seconds.
    page = TrainPage(_trained_state(tmp_path, epochs=3, image_size=160, strategy="fine-tune-all", freeze_depth=8))
    qtbot.addWidget(page)
    page.show()
    page.on_enter()
    # In the app, torch and the trainer are imported by the start-up warm-up (app.warmup) long before
    # anyone can press Start; a C extension's first import holds the GIL (longer when its files are not
    # in the disk cache), which is the warm-up's business, not training's. Measure training only.
    import_heavy_modules(None)
    gaps, last = [], [time.monotonic()]

    def tick():
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    with qtbot.waitSignal(page.task.stopped, timeout=120000):
        page.start_button.click()
    timer.stop()
    assert page.state.result is not None and page.is_complete()
    counts = page.curves.point_counts()
    assert counts["epochs"] == 3 and counts["batch_loss"] >= 3
    assert len(gaps) > 200, "training was too short to measure the event loop"
    print(f"max event-loop gap {max(gaps) * 1000:.0f} ms over {len(gaps)} ticks")
    # With both cores of a 2-core machine training, the longest gaps measured 70-110 ms, spread over the run (a
    # batch's curve update waiting for the interpreter lock), so 100 ms failed now and then; work done on the GUI
    # thread by mistake (a synchronous evaluation, a file dialog's scan) stalls it for seconds and still fails 150
    assert max(gaps) < 0.15, f"the event loop stalled for {max(gaps) * 1000:.0f} ms"
    log = page.log.toPlainText()
    assert "Epoch 3/3" in log and log.index("Finishing the model (") > log.index("Epoch 3/3")  # not silent at the end
    qtbot.waitUntil(lambda: page.curves.drawn_counts() == {"train_loss": 3, "val_accuracy": 3}, timeout=2000)


def test_cancel_stops_training_within_two_seconds(qtbot, tmp_path):
    page = TrainPage(_trained_state(tmp_path, epochs=200))
    qtbot.addWidget(page)
    page.on_enter()
    with qtbot.waitSignal(page.task.event, timeout=60000, check_params_cb=lambda item: item[0] == "batch"):
        page.start_button.click()
    start = time.monotonic()
    with qtbot.waitSignal(page.task.stopped, timeout=5000):
        page.cancel_button.click()
    assert time.monotonic() - start < 2.0
    assert page.start_button.isEnabled() and not page.task.is_running()
    log = page.log.toPlainText()
    if page.state.result is None:  # Cancel came before the first epoch ended: nothing to keep
        assert "no model to keep yet" in log
    else:  # after it: the best epoch so far is the model (tests/test_gui_trust.py covers the rest)
        assert page.state.result.cancelled and "Cancelled after epoch" in log


def test_a_core_error_appears_in_the_window(qtbot, tmp_path):
    state = _trained_state(tmp_path)
    state.settings = replace(state.settings, model_name="no_such_model")
    page = TrainPage(state)
    qtbot.addWidget(page)
    page.on_enter()
    with qtbot.waitSignal(page.task.stopped, timeout=30000):
        page.start_button.click()
    assert "Unknown model" in page.banner.text()
    assert page.start_button.isEnabled()


def test_model_without_offline_weights_needs_a_download_and_offline_says_so(qtbot):
    from core.models.weights import hub_reachable
    if hub_reachable(timeout=2):
        pytest.skip("this machine is online")
    page = ModelPage(WizardState())
    qtbot.addWidget(page)
    page.on_enter()
    page.select_model("resnet18")
    assert not page.is_complete() and not page.download_button.isHidden()
    with qtbot.waitSignal(page.task.stopped, timeout=30000):
        page.download_button.click()
    assert "internet" in page.banner.text() and not page.is_complete()


def test_loss_axis_reads_as_plain_decimals_when_the_loss_is_tiny(qtbot):
    from app.widgets.curves import TrainingCurves
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.resize(800, 300)
    curves.show()
    curves.add_epoch(1, 0.00007, 0.00009, 1.0, 1.0)  # a converged classifier on separable features
    qtbot.wait(50)
    axis = curves.loss_plot.getAxis("left")
    low, high = curves.loss_plot.getViewBox().viewRange()[1]
    labels = [text for spacing, values in axis.tickValues(low, high, 300)
              for text in axis.tickStrings(values, 1.0, spacing)]
    assert labels and not any("e" in text for text in labels), labels
    assert any(text.startswith("0.0000") for text in labels), labels
    for plot in (curves.loss_plot, curves.acc_plot):  # one epoch: its axis counts whole epochs ("1", not "0.6")
        axis = plot.getAxis("bottom")
        low, high = plot.getViewBox().viewRange()[0]
        ticks = [v for _, values in axis.tickValues(low, high, 300) for v in values]
        assert ticks and all(v == round(v) for v in ticks) and "1" in axis.tickStrings(ticks, 1.0, 1.0), ticks
        assert low >= 0  # no epoch "-1" beside a one-epoch run
    for epoch in range(2, 9):
        curves.add_epoch(epoch, 0.1, 0.1, 1.0, 1.0)
    qtbot.wait(300)
    curves.reset()  # a new run: the earlier run's tiny losses and its eight epochs leave no axis behind
    qtbot.wait(50)
    low, high = curves.loss_plot.getViewBox().viewRange()[1]
    assert (low, high) == (0, 1)
    assert curves.acc_plot.getViewBox().viewRange()[0][1] < 2


@pytest.mark.parametrize("kind", ["QComboBox", "QSpinBox", "QSlider", "QLineEdit", "QPushButton", "QListWidget",
                                  "QPlainTextEdit", "QTableWidget"])
def test_the_keyboard_focus_ring_can_be_seen(qtbot, kind):
    """Fusion marks a focused drop-down list or number field by a tint of its outline and a slider not at all;
    the app's style draws a ring in the highlight colour around each."""
    from PySide6 import QtWidgets
    from PySide6.QtGui import QColor, QPalette

    from app.theme import VisibleFocusStyle
    host = QtWidgets.QWidget()
    qtbot.addWidget(host)
    style = VisibleFocusStyle()
    widget = getattr(QtWidgets, kind)(*(["Next"] if kind == "QPushButton" else []))
    other = QtWidgets.QPushButton("elsewhere")
    layout = QtWidgets.QVBoxLayout(host)
    for w in (widget, other):
        w.setStyle(style)
        layout.addWidget(w)
    host.resize(240, 120)
    host.show()
    host.activateWindow()
    qtbot.waitExposed(host)
    ring = widget.palette().color(QPalette.ColorRole.Highlight)

    def ring_pixels() -> int:
        image = widget.grab().toImage()
        return sum(1 for x in range(image.width()) for y in range(image.height())
                   if _near(QColor(image.pixel(x, y)), ring))

    other.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(other.hasFocus)
    unfocused = ring_pixels()
    widget.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(widget.hasFocus)
    # a ring all round: two pixels wide, or about one where a list's or text box's contents cover its inner edge
    wide = 1.8 if isinstance(widget, QtWidgets.QAbstractScrollArea) else 2
    assert unfocused == 0 and ring_pixels() >= wide * (widget.width() + widget.height())


def _near(a, b) -> bool:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) < 60
