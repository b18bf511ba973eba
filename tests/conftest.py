import atexit
import gc
import os
import shutil
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Every QSettings of the test run, in this process and in the apps that tests start, lives in a temporary
# folder: Qt reads XDG_CONFIG_HOME once, at the first QSettings, so it is set before anything imports Qt.
# (A walkthrough found data/last_folder in the user's real settings pointing at a pytest temporary folder.)
_CONFIG_HOME = tempfile.mkdtemp(prefix="transferlab-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME
atexit.register(shutil.rmtree, _CONFIG_HOME, True)

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never touch the real per-user cache."""
    os.environ["TRANSFERLAB_CACHE_DIR"] = str(tmp_path_factory.mktemp("transferlab-cache"))
    yield


@pytest.fixture(autouse=True)
def _private_qsettings(tmp_path, request):
    """Each test that can reach QSettings (Qt loaded) keeps it in a temporary INI file of its own, never
    the user's real settings nor an earlier test's; GUI tests also collect garbage on this thread only."""
    gui = "qtbot" in request.fixturenames or "qapp" in request.fixturenames
    if not gui and "PySide6.QtCore" not in sys.modules:
        yield  # a test of core/ alone: no Qt, nothing to redirect (XDG_CONFIG_HOME above covers the rest)
        return
    from PySide6.QtCore import QSettings

    from app import app_settings
    app_settings.init_identity()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(tmp_path / "qsettings"))
    if not gui:
        yield
        return
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
