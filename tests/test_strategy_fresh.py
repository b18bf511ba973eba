"""Strategy showed the last folder's measurements (its chart, "13 images per class over 13 classes") for a minute
while a new folder was measured (a walkthrough): nothing of the old suggestion is shown then."""

from core.data.dataset import scan_dataset
from tests.datagen import make_class_folder
from tests.test_gui_strategy_freeze import _private_data_dir, make_state, measured_strategy_page, pages  # noqa: F401


def test_a_new_folder_hides_the_old_measurements_while_it_is_measured(qtbot, pages, tmp_path):
    state = make_state(tmp_path)
    page = measured_strategy_page(qtbot, pages, state)
    assert page.scroll.isVisible()
    page.on_leave()
    state.scan = scan_dataset(make_class_folder(tmp_path / "other", ["x", "y"], per_class=6, size=64))
    page.on_enter()
    assert page.task.is_running() and not page.scroll.isVisible() and page.measuring.isVisible()
    qtbot.waitUntil(lambda: state.suggestion is not None and page.is_complete(), timeout=90000)
    assert page.scroll.isVisible() and "over 2 classes" in page.rationale_label.text()
