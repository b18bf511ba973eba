"""Strategy and Freeze-depth pages on their own, driven offscreen with qtbot (real advisor, real images)."""

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from app.pages.freeze_page import FreezePage
from app.pages.strategy_page import StrategyPage
from app.state import WizardState
from app.widgets.quadrant import QuadrantWidget
from core.data.dataset import scan_dataset
from core.training.settings import STRATEGIES, TrainSettings, with_strategy
from tests.datagen import make_class_folder

SHOTS = os.environ.get("TRANSFERLAB_SHOTS_DIR")  # set to also keep copies of the screenshots


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))


@pytest.fixture
def pages(qtbot):
    """Adds a page to qtbot; at the end its background work is stopped before the widget goes away."""
    made = []

    def add(page):
        qtbot.addWidget(page)
        made.append(page)
        return page

    yield add
    for page in made:
        page.shutdown()
        assert not page.task.is_running()


def make_state(tmp_path) -> WizardState:
    root = make_class_folder(tmp_path / "d", ["a", "b", "c"], per_class=8, size=64)
    return WizardState(scan=scan_dataset(root), settings=TrainSettings(image_size=64))


def measured_strategy_page(qtbot, pages, state: WizardState) -> StrategyPage:
    page = pages(StrategyPage(state))
    page.resize(900, 650)
    page.show()
    page.on_enter()
    assert page.task.is_running() and not page.is_complete()
    assert page.measuring.isVisible() and page.cancel_button.isEnabled()
    assert "pretrained model" in page.measure_label.text()
    qtbot.waitUntil(lambda: state.suggestion is not None, timeout=60000)
    qtbot.waitUntil(page.is_complete, timeout=10000)
    return page


def save_shot(widget, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    assert widget.grab().save(str(path))
    assert path.stat().st_size > 1000
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SHOTS) / name)
    return path


def test_strategy_page_measures_explains_and_lets_the_user_override(qtbot, pages, tmp_path):
    state = make_state(tmp_path)
    page = measured_strategy_page(qtbot, pages, state)
    s = state.suggestion
    assert state.suggestion_key == state.advice_key()
    assert state.settings.strategy == s.strategy and state.settings.freeze_depth == s.freeze_depth
    assert not page.measuring.isVisible() and page.scroll.isVisible()
    assert "%" in page.rationale_label.text() and "<li" in page.rationale_label.text()
    assert "<b>" in page.suggested_label.text()
    assert page.quadrant.has_point() and page.quadrant.strategy == s.strategy
    m = s.measurements
    assert page.quadrant.point == pytest.approx((m.median_per_class, m.similarity))
    assert page.selected_strategy() == s.strategy
    assert "(suggested)" in page.radios[s.strategy].text()
    assert sum("(suggested)" in r.text() for r in page.radios.values()) == 1
    # Auto is on by default: its plan and predicted finish are shown, and the strategy radios wait
    assert page.auto_box.isChecked() and state.auto_budget == "balanced" and not page.override_box.isEnabled()
    assert "Predicted time" in page.auto_box.plan_label.text() and "at the latest" in page.auto_box.plan_label.text()
    balanced = page.auto_box.plan_label.text()
    import core.methods.plan_words as plan_words  # the finish time of day moves on with the clock
    real = plan_words.time.time
    plan_words.time.time = lambda: real() + 3 * 3600
    try:
        page.auto_box.clock.timeout.emit()
        assert page.auto_box.plan_label.text() != balanced and page.auto_box.clock.isActive()
    finally:
        plan_words.time.time = real
    page.auto_box.clock.timeout.emit()
    page.auto_box.budget_combo.setCurrentIndex(page.auto_box.budget_combo.findData("fast"))
    assert state.auto_budget == "fast" and page.auto_box.plan_label.text() != balanced
    page.auto_box.budget_combo.setCurrentIndex(page.auto_box.budget_combo.findData("minutes"))
    assert page.auto_box.minutes_spin.isVisibleTo(page) and state.auto_budget == "10"
    page.auto_box.budget_combo.setCurrentIndex(page.auto_box.budget_combo.findData("balanced"))
    save_shot(page, tmp_path, "strategy.png")

    on_height = page.auto_box.plan_label.minimumHeight()
    page.auto_box.setChecked(False)  # by hand
    assert state.auto_budget is None and page.override_box.isEnabled()
    # off, the box folds to its one line (the plan's height stayed: an empty grey box)
    assert not page.auto_box.budget_combo.isVisibleTo(page)
    assert page.auto_box.plan_label.minimumHeight() < on_height / 2
    # Tab enters the strategies at the chosen one and never stops on a chart or a frameless scroller
    from PySide6.QtWidgets import QAbstractScrollArea, QRadioButton
    page.activateWindow()
    stops = []
    for _ in range(20):
        page.focusNextChild()
        stops.append(page.focusWidget())
    radios = [w for w in stops if isinstance(w, QRadioButton)]
    assert radios and all(r.isChecked() for r in radios), [r.text() for r in radios]
    assert not any(isinstance(w, QAbstractScrollArea) for w in stops), stops
    page.radios["fine-tune-all"].click()
    assert state.settings.strategy == "fine-tune-all" and state.settings.freeze_depth == s.num_groups
    page.radios["fine-tune-top"].click()
    assert state.settings.strategy == "fine-tune-top" and 0 < state.settings.freeze_depth < s.num_groups
    page.radios[s.strategy].click()
    assert state.settings.strategy == s.strategy and state.settings.freeze_depth == s.freeze_depth

    # Entering again with the same data and model does not measure again, and keeps the user's choice.
    page.radios["fine-tune-all"].click()
    page.on_enter()
    assert not page.task.is_running() and page.selected_strategy() == "fine-tune-all"
    assert state.settings.strategy == "fine-tune-all"
    # Measuring again (here: after the validation share changed) keeps it too, and says so
    state.settings = replace(state.settings, val_fraction=0.3)
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.on_enter()
    assert page.selected_strategy() == state.settings.strategy == "fine-tune-all"
    assert "is kept" in page.banner.text() and state.settings.val_fraction == 0.3


def test_strategy_page_measure_again_and_cancel(qtbot, pages, tmp_path):
    state = make_state(tmp_path)
    page = measured_strategy_page(qtbot, pages, state)
    first = state.suggestion
    with qtbot.waitSignal(page.task.stopped, timeout=30000):
        page.measure_button.click()
        assert page.task.is_running() and not page.is_complete() and not page.measure_button.isEnabled()
        page.cancel_button.click()
    assert state.suggestion is first and page.is_complete()  # cancelled: the earlier result stays
    assert "cancelled" in page.status_label.text()
    page.measure_button.click()
    qtbot.waitUntil(lambda: state.suggestion is not first, timeout=60000)
    qtbot.waitUntil(page.is_complete, timeout=10000)


def test_strategy_page_without_a_dataset_says_what_to_do(qtbot, pages):
    page = pages(StrategyPage(WizardState()))
    page.on_enter()
    assert not page.task.is_running() and not page.is_complete()
    assert "dataset" in page.status_label.text()


def test_quadrant_widget_paints_without_a_point_and_with_one(qtbot, tmp_path):
    w = QuadrantWidget()
    qtbot.addWidget(w)
    assert w.minimumSizeHint().width() >= 360 and w.minimumSizeHint().height() >= 260
    w.resize(w.minimumSizeHint())
    assert not w.has_point()
    save_shot(w, tmp_path, "quadrant-empty.png")
    w.set_point(2000, -0.3, "fine-tune-all")
    pos = w.point_position()
    rects = w.quadrant_rects()
    assert rects["fine-tune-all"].contains(pos)
    w.set_point(20, 0.2, "feature-extraction")
    assert w.quadrant_rects()["feature-extraction"].contains(w.point_position())
    save_shot(w, tmp_path, "quadrant.png")


@pytest.mark.parametrize("size", [(360, 260), (600, 380)])
@pytest.mark.parametrize("point", [(6, 0.0), (20, 0.2), (800, -0.3), (5000, 0.5), (3, -0.5), (150, -0.05)])
def test_quadrant_texts_stay_inside_and_clear_of_the_dot(qtbot, size, point):
    w = QuadrantWidget()
    qtbot.addWidget(w)
    w.resize(*size)
    w.set_point(*point, "truncated")
    layout = w.label_layout()
    plot = w.plot_rect()
    assert plot.contains(layout["dot_label"]) and plot.contains(layout["dot"])
    for strategy, bound in layout["name_bounds"].items():
        assert w.quadrant_rects()[strategy].contains(bound), strategy
        assert not bound.intersects(layout["dot_label"]), strategy


def test_freeze_page_slider_table_settings_and_examples(qtbot, pages, tmp_path):
    state = make_state(tmp_path)
    state.auto_budget = None  # the settings by hand (with Auto on they are disabled, tested elsewhere)
    measured_strategy_page(qtbot, pages, state)
    s = state.suggestion
    groups = s.extra["layer_groups"]
    if state.settings.strategy == "truncated":  # this test is about the uncut network
        state.settings = replace(state.settings, strategy="feature-extraction", cut_index=None)
    page = pages(FreezePage(state))
    page.resize(900, 650)
    page.show()
    with qtbot.waitSignal(page.previewUpdated, timeout=20000):
        page.on_enter()
    assert len(page.preview_pixmaps()) == 6
    assert page.freeze_content.isVisible() and not page.missing_label.isVisible()
    assert page.slider.maximum() == s.num_groups and page.slider.value() == state.settings.freeze_depth
    assert page.table.rowCount() == len(groups) == s.num_groups
    assert page.table.item(0, 0).text() == f"1 of {len(groups)} · early (edges, colours)"
    assert page.table.item(0, 0).toolTip().startswith(f"Layer group 1 of {len(groups)} (early features")
    assert groups[0]["name"] in page.table.item(0, 0).toolTip()  # the module names, for who wants them
    assert "% of the pretrained parameters" in page.depth_label.text()

    page.slider.setValue(page.slider.maximum())
    assert state.settings.freeze_depth == s.num_groups
    total = sum(g["params"] for g in groups)
    assert f"{total:,}" in page.summary_label.text() and "100.0%" in page.summary_label.text()
    assert "new&nbsp;classifier" in page.summary_label.text()
    assert all("✓" in page.table.item(r, 2).text() for r in range(page.table.rowCount()))
    page.slider.setValue(1)
    assert state.settings.freeze_depth == 1
    assert f"{groups[-1]['params']:,}" in page.summary_label.text()
    assert "✓" in page.table.item(len(groups) - 1, 2).text() and page.table.item(0, 2).text() == "frozen"
    if state.settings.strategy in ("feature-extraction", "truncated"):
        assert "fine-tuned" in page.note_label.text()
    page.slider.setValue(0)
    assert "Training <b>0</b> of" in page.summary_label.text() and not page.backbone_lr_spin.isEnabled()

    if state.settings.strategy in ("feature-extraction", "truncated"):  # fitted to convergence by default
        assert page.converged_check.isChecked() and not page.epochs_spin.isEnabled()
        page.converged_check.setChecked(False)  # train the classifier in epochs instead
        assert state.settings.classifier_fit == "epochs" and page.epochs_spin.isEnabled()
    page.head_lr_spin.setValue(0.005)
    page.backbone_lr_spin.setValue(0.0002)
    page.epochs_spin.setValue(3)
    page.batch_spin.setValue(8)
    # flips and rotations agree with the preset: greyed out and unticked where it makes none
    expected = {"none": (False, False), "light": (True, False), "standard": (True, True)}
    for preset, (flips, rotations) in expected.items():
        page.aug_combo.setCurrentIndex(page.aug_combo.findData(preset))
        assert (page.flips_check.isEnabled(), page.flips_check.isChecked()) == (flips, flips)
        assert (page.rotation_check.isEnabled(), page.rotation_check.isChecked()) == (rotations, rotations)
    page.flips_check.setChecked(False)
    assert state.settings.head_lr == pytest.approx(0.005) and state.settings.backbone_lr == pytest.approx(0.0002)
    assert (state.settings.epochs, state.settings.batch_size, state.settings.allow_flips) == (3, 8, False)
    assert "Switch off where orientation" in page.rotation_check.toolTip()
    page.aug_combo.setCurrentIndex(page.aug_combo.findData("none"))
    assert "makes no rotations" in page.rotation_check.toolTip() and state.settings.allow_rotation

    # Changing the preset re-runs the examples (debounced); a burst of changes gives one fresh result.
    with qtbot.waitSignal(page.previewUpdated, timeout=20000):
        page.aug_combo.setCurrentIndex(page.aug_combo.findData("none"))
        page.aug_combo.setCurrentIndex(page.aug_combo.findData("strong"))
    assert state.settings.augmentation == "strong"
    assert page.aug_description.text().startswith(PRESETS_DESCRIPTION("strong"))
    assert "one more pass" in page.aug_description.text()  # depth 0: what augmentation costs a frozen network
    qtbot.waitUntil(lambda: not page.task.is_running(), timeout=20000)
    assert len(page.preview_pixmaps()) == 6
    before = page.preview_pixmaps()[0].toImage()
    with qtbot.waitSignal(page.previewUpdated, timeout=20000):
        page.shuffle_button.click()
    assert page.preview_pixmaps()[0].toImage() != before
    page.slider.setValue(3)
    save_shot(page, tmp_path, "freeze.png")


def test_freeze_page_for_a_cut_network_marks_the_groups_above_the_cut_unused(qtbot, pages, tmp_path):
    state = make_state(tmp_path)
    measured_strategy_page(qtbot, pages, state)
    s = state.suggestion
    state.settings = with_strategy(state.settings, "truncated", s.num_groups, s.measurements.early_level)
    page = pages(FreezePage(state))
    page.show()
    page.on_enter()
    kept = page.kept_groups()
    assert kept is not None and 0 < kept < s.num_groups  # tf_efficientnet_lite0 cut at blocks.4
    assert s.measurements.early_level_name in page.table.item(kept - 1, 0).toolTip()
    assert page.slider.maximum() == kept
    page.slider.setValue(kept)
    assert state.settings.freeze_depth == kept
    assert page.table.item(s.num_groups - 1, 2).text().startswith("unused")
    assert "✓" in page.table.item(kept - 1, 2).text() and "✓" in page.table.item(0, 2).text()
    kept_params = sum(g["params"] for g in s.extra["layer_groups"][:kept])
    assert f"{kept_params:,}" in page.summary_label.text() and "100.0%" in page.summary_label.text()
    assert "cut" in page.note_label.text() and "fine-tuned" in page.note_label.text()
    # the slider's words ("… of 2 groups below the cut trained · …% of the pretrained parameters") wrap: on one
    # line they made this step 74 px wider than the others, and the window grew on arriving here
    page.slider.setValue(0)
    assert "of the pretrained parameters" in page.depth_label.text() and page.depth_label.minimumSizeHint().width() < 200
    assert page.depth_label.text().endswith("of the pretrained parameters below the cut")  # not of the whole network
    qtbot.waitUntil(lambda: not page.task.is_running(), timeout=20000)


def test_freeze_page_cancels_a_running_preview_and_starts_the_new_one(qtbot, pages, tmp_path):
    state = make_state(tmp_path)
    page = pages(FreezePage(state))
    page._start_preview()
    assert page.task.is_running()
    state.settings = TrainSettings(image_size=64, augmentation="strong")
    page._start_preview()  # while the first is running: cancelled, then restarted
    assert page._preview_pending
    qtbot.waitUntil(lambda: page._preview_key is not None and page._preview_key[4] == "strong"
                    and not page.task.is_running(), timeout=20000)
    assert len(page.preview_pixmaps()) == 6


def test_freeze_page_without_a_suggestion_asks_to_go_back(qtbot, pages, tmp_path):
    state = make_state(tmp_path)
    page = pages(FreezePage(state))
    page.show()
    page.on_enter()
    assert page.missing_label.isVisible() and not page.freeze_content.isVisible()
    assert "Strategy" in page.missing_label.text() and not page.is_complete()
    qtbot.waitUntil(lambda: len(page.preview_pixmaps()) == 6, timeout=20000)
    assert set(STRATEGIES) >= {state.settings.strategy}


def PRESETS_DESCRIPTION(name: str) -> str:  # noqa: N802
    from core.models.preprocess import PRESETS
    return PRESETS[name].description


def test_measuring_says_how_long_is_left_from_its_own_pace(qtbot):
    """A simulated clock: the bar adds the time left once a tenth of a stage's images took two seconds;
    a new stage (another count of images) starts its own clock."""
    page = StrategyPage(WizardState())
    qtbot.addWidget(page)
    now = [100.0]
    page.clock = lambda: now[0]
    page._on_progress(0, 400, "")
    now[0] += 10
    page._on_progress(100, 400, "")
    assert page.progress.format() == "100 of 400 images · about 30 s left"
    page._on_progress(0, 50, "Probing the layers")  # another stage: no guess until it has a pace of its own
    now[0] += 1
    page._on_progress(10, 50, "Probing the layers")
    assert page.progress.format() == "10 of 50 images"
    now[0] += 3
    page._on_progress(20, 50, "Probing the layers")
    assert page.progress.format() == "20 of 50 images · about 6 s left"
