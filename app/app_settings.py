"""Remembered choices (QSettings): last folders, window geometry, last model and device."""

from PySide6.QtCore import QCoreApplication, QSettings

ORGANIZATION = "TransferLab"
APPLICATION = "TransferLab"


APPEARANCE = "view/appearance"  # "system", "light" or "dark" (app.widgets.appearance_button)
HEATMAPS = "view/heatmaps"  # "Show what the model looks at": one choice for Results and Try (default on)


def init_identity() -> None:
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)


def store() -> QSettings:
    """The app's settings (default format; tests redirect it to a temporary file)."""
    init_identity()
    return QSettings()


def get_str(key: str, default: str = "") -> str:
    value = store().value(key, default)
    return str(value) if value is not None else default


def get_bool(key: str, default: bool = False) -> bool:
    """A remembered tick (QSettings keeps booleans as "true"/"false" in its ini files)."""
    value = store().value(key, default)
    return value if isinstance(value, bool) else str(value).lower() in ("true", "1")


def set_value(key: str, value) -> None:
    s = store()
    s.setValue(key, value)
    s.sync()
