"""Light or dark, chosen in the window and remembered: some systems do not tell Qt their scheme (a walkthrough
under a plain X server could not see the dark window at all)."""

from PySide6.QtWidgets import QApplication

from app.theme import apply_theme, is_dark
from app.widgets.appearance_button import AppearanceButton, dark_wanted


def test_the_appearance_is_remembered_and_applied_at_the_next_start(qtbot):
    button = AppearanceButton()
    qtbot.addWidget(button)
    assert button.text() == "Appearance: System" and dark_wanted() is None
    button.choice_actions["dark"].trigger()
    assert dark_wanted() is True and button.text() == "Appearance: Dark\nfrom the next start"
    button.resize(190, button.sizeHint().height())  # as wide as the step list: nothing cut off
    assert button.fontMetrics().horizontalAdvance("from the next start") < 170
    again = AppearanceButton()  # the next start
    qtbot.addWidget(again)
    assert again.text() == "Appearance: Dark" and again.choice_actions["dark"].isChecked()
    app = QApplication.instance()
    before = app.palette()
    try:
        assert apply_theme(app, dark_wanted()) and is_dark(app.palette())
        again.choice_actions["light"].trigger()
        assert dark_wanted() is False and not apply_theme(app, dark_wanted()) and not is_dark(app.palette())
    finally:
        app.setPalette(before)


def test_banners_are_dark_in_a_dark_window(qtbot):
    """A walkthrough in dark mode saw light pink, green and blue banners."""
    from app.pages.base import MessageBanner
    from app.theme import dark_palette
    banner = MessageBanner()
    qtbot.addWidget(banner)
    banner.show_message("light", "error")
    assert MessageBanner.COLOURS["error"][1] in banner.styleSheet()
    banner.setPalette(dark_palette())
    banner.show_message("dark", "error")
    assert MessageBanner.DARK_COLOURS["error"][1] in banner.styleSheet()

