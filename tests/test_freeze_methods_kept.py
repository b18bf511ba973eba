"""The Freeze step's slider passing 0 groups switched two-stage fine-tuning off for good (a walkthrough): a method
the settings leave no room for is off while they do, and back once they have room again."""

from dataclasses import replace

from app.pages.freeze_page import FreezePage
from tests.test_gui_strategy_freeze import _private_data_dir, make_state, measured_strategy_page, pages  # noqa: F401


def test_two_stage_comes_back_when_the_slider_returns_to_trained_groups(qtbot, pages, tmp_path):
    state = make_state(tmp_path)
    state.auto_budget = None
    measured_strategy_page(qtbot, pages, state)
    state.settings = replace(state.settings, strategy="fine-tune-top", freeze_depth=3, epochs=6, two_stage=True,
                             head_epochs=2, cut_index=None)
    page = pages(FreezePage(state))
    page.resize(900, 650)
    page.show()
    page.on_enter()
    assert state.settings.two_stage and "two-stage" in page.methods_label.text()
    page.slider.setValue(0)  # no pretrained layer trains: nothing for a second stage to do
    assert not state.settings.two_stage
    page.slider.setValue(2)
    assert state.settings.two_stage and state.settings.head_epochs == 2 and "two-stage" in page.methods_label.text()
    dialog = page.open_methods()  # turned off by hand in the methods dialog: it stays off
    dialog.two_stage.setChecked(False)
    dialog.accept()
    page.slider.setValue(1)
    assert not state.settings.two_stage
