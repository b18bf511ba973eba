"""Light or dark window, or the system's choice: remembered, used from the next start.

Charts and tables take their colours when they are built, so a switch while the window is open would leave them
in the old scheme; the choice is applied at start (app.gui) and the button says so. Some systems (a plain X
server, many Linux desktops) do not tell Qt their scheme: this is how their users get a dark window."""

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton

from app import app_settings

CHOICES = {"system": "Follow the system", "light": "Light", "dark": "Dark"}


def remembered_appearance() -> str:
    choice = app_settings.get_str(app_settings.APPEARANCE, "system")
    return choice if choice in CHOICES else "system"


def dark_wanted() -> bool | None:
    """True or False as chosen; None: follow the system (app.theme.apply_theme)."""
    return {"light": False, "dark": True}.get(remembered_appearance())


class AppearanceButton(QToolButton):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.applied = remembered_appearance()  # what this window was started with
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolTip("A light or dark window, or whichever your system uses. Applied when TransferLab starts.")
        menu, group = QMenu(self), QActionGroup(self)
        self.choice_actions: dict[str, QAction] = {}
        for key, words in CHOICES.items():
            action = QAction(words, self, checkable=True, checked=key == self.applied)
            action.triggered.connect(lambda _=False, k=key: self.choose(k))
            group.addAction(action)
            menu.addAction(action)
            self.choice_actions[key] = action
        self.setMenu(menu)
        self._say(self.applied)

    def choose(self, key: str) -> None:
        app_settings.set_value(app_settings.APPEARANCE, key)
        self.choice_actions[key].setChecked(True)
        self._say(key)

    def _say(self, key: str) -> None:
        words = "System" if key == "system" else CHOICES[key]
        pending = key != self.applied  # two lines: one did not fit the step list's width (a walkthrough)
        self.setText(f"Appearance: {words}" + ("\nfrom the next start" if pending else ""))
