import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never touch the real per-user cache."""
    os.environ["TRANSFERLAB_CACHE_DIR"] = str(tmp_path_factory.mktemp("transferlab-cache"))
    yield


@pytest.fixture(autouse=True)
def _private_qsettings(tmp_path, request):
    """GUI tests keep QSettings in a temporary INI file, never the user's real settings."""
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        yield
        return
    from PySide6.QtCore import QSettings

    from app import app_settings
    app_settings.init_identity()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    # Garbage is collected on this (the GUI) thread only, as the app does (app.gui): a collection that
    # a worker thread triggers can destroy a widget of an earlier test there and deadlock with Qt.
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.enable()


def pytest_collection_modifyitems(items):
    """Tests that take ``cpu_precision`` form the precision-sensitive subset: ``pytest -m precision``."""
    for item in items:
        if "cpu_precision" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.precision)


@pytest.fixture(params=["fp32", "bf16"])
def cpu_precision(request, monkeypatch):
    """Run a precision-sensitive test under both CPU plans on every machine: bf16 is forced where
    the CPU lacks it (emulated, slower: keep such tests small), fp32 where it has it."""
    monkeypatch.setenv("TRANSFERLAB_CPU_BF16", "1" if request.param == "bf16" else "0")
    return request.param
