"""The packaged app without building it: the PyInstaller spec, logging, crash reporting, --self-test."""

import builtins
import logging
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

import build_installer
from app import logs
from core.models.lite_weights import LITE_PACKAGES

ROOT = Path(__file__).resolve().parents[1]
USED_QT = ("PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtSvg", "PySide6.QtOpenGL",
           "PySide6.QtOpenGLWidgets")


class _Recorder:
    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs
        self.pure = self.scripts = self.binaries = self.datas = []


def _run_spec() -> dict[str, _Recorder]:
    """Execute the generated spec with stand-ins for PyInstaller's classes; what each was called with."""
    made: dict[str, _Recorder] = {}

    def stand_in(kind: str):
        def make(*args, **kwargs):
            made[kind] = _Recorder(*args, **kwargs)
            return made[kind]
        return make
    names = {kind: stand_in(kind) for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
    exec(compile(build_installer.spec_text(build_installer.build_options()), "TransferLab.spec", "exec"), names)
    return made


def test_spec_is_one_folder_windowed_without_upx():
    made = _run_spec()
    exe, coll = made["EXE"].kwargs, made["COLLECT"].kwargs
    assert exe["exclude_binaries"] is True and "COLLECT" in made  # one folder: binaries beside the program
    assert exe["console"] is False and exe["name"] == "TransferLab" and coll["name"] == "TransferLab"
    assert exe["upx"] is False and coll["upx"] is False
    assert ("BUNDLE" in made) == (sys.platform == "darwin")
    with pytest.raises(ValueError):
        build_installer.spec_text({**build_installer.build_options(), "onefile": True})


def test_spec_bundles_the_weights_the_sample_data_and_torchvision_ops():
    made = _run_spec()
    analysis = made["Analysis"].kwargs
    datas = analysis["datas"]
    for package in LITE_PACKAGES.values():  # laid out as in site-packages: core.models.lite_weights finds them the same way
        files = [Path(src) for src, dest in datas if dest == f"{package}/models"]
        assert files and all(f.is_file() and f.suffix == ".pth" for f in files), package
        assert package in analysis["hiddenimports"]  # found with find_spec only: no import for PyInstaller to see
    ops = [Path(src).name for src, dest in analysis["binaries"] if dest == "torchvision"]
    assert any(name.startswith(("_C.", "_C_stable.")) for name in ops), ops  # torchvision::nms and friends
    resources = [Path(src) for src, dest in datas if dest == "resources"]
    assert resources == [ROOT / "resources"] and (resources[0] / "sample_data").is_dir()
    assert analysis["module_collection_mode"] == {"timm": "pyz+py", "torchvision": "pyz+py"}
    assert [Path(p) for p in made["Analysis"].args[0]] == [ROOT / "app" / "entry.py"]


def test_spec_leaves_out_unused_qt_and_heavy_packages_but_not_what_the_app_uses():
    excludes = set(_run_spec()["Analysis"].kwargs["excludes"])
    for module in ("QtWebEngineCore", "QtWebEngineWidgets", "Qt3DCore", "QtQuick", "QtQml", "QtMultimedia", "QtCharts",
                   "QtDataVisualization", "QtPdf", "QtBluetooth", "QtNfc", "QtSensors", "QtSerialPort", "QtPositioning",
                   "QtLocation", "QtDesigner", "QtHelp", "QtSql", "QtTest"):
        assert f"PySide6.{module}" in excludes
    assert {"tensorboard", "IPython", "matplotlib", "skimage", "pytest", "triton"} <= excludes
    assert not excludes & set(USED_QT)
    assert not {"torch", "torchvision", "timm", "numpy", "PIL", "safetensors", "onnx", "onnxruntime", "pyqtgraph",
                "platformdirs", "sympy", "huggingface_hub"} & excludes


def test_logging_writes_to_the_overridden_folder_and_rotates(tmp_path, monkeypatch):
    monkeypatch.setenv(logs.LOG_ENV, str(tmp_path / "logs"))
    path = logs.setup_logging()
    try:
        assert path == tmp_path / "logs" / "transferlab.log"
        logging.getLogger("transferlab.test").info("hello from the test")
        assert "hello from the test" in path.read_text(encoding="utf-8")
        assert (tmp_path / "logs" / "faults.log").is_file()
        for i in range(1200):  # about 1.3 MB: one rollover at 1 MB
            logging.getLogger("transferlab.test").info("line %d %s", i, "x" * 1000)
        assert (tmp_path / "logs" / "transferlab.log.1").is_file() and path.stat().st_size < logs.MAX_BYTES
    finally:
        logs.stop_logging()


def test_missing_stdout_and_stderr_go_to_a_file_in_the_log_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(logs.LOG_ENV, str(tmp_path))
    assert logs.ensure_std_streams() is None  # a console is there: nothing changes
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    path = logs.ensure_std_streams()
    try:
        print("printed without a console")
        print("warned without a console", file=sys.stderr)
    finally:
        sys.stdout.close()
    assert path == tmp_path / "console.log"
    assert path.read_text(encoding="utf-8") == "printed without a console\nwarned without a console\n"


@pytest.fixture
def crash_log(tmp_path, monkeypatch, qapp):
    """Crash reporting installed, the log in tmp_path, the dialog replaced by a recorder of
    (message, shown on the GUI thread)."""
    from PySide6.QtCore import QThread

    from app import crash
    monkeypatch.setenv(logs.LOG_ENV, str(tmp_path))
    shown: list[tuple[str, bool]] = []
    monkeypatch.setattr(crash, "show_crash_dialog",
                        lambda message: shown.append((message, QThread.currentThread() == qapp.thread())))
    path = logs.setup_logging()
    crash.install()
    yield path, shown
    crash.uninstall()
    logs.stop_logging()


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_is_logged_and_shown_and_the_app_keeps_running(qtbot, crash_log):
    from PySide6.QtWidgets import QPushButton
    path, shown = crash_log
    button = QPushButton("Go")
    qtbot.addWidget(button)
    clicks = []

    def broken_slot() -> None:
        clicks.append(1)
        raise ValueError("the slot broke")
    button.clicked.connect(broken_slot)
    button.click()
    assert len(shown) == 1 and "ValueError: the slot broke" in shown[0][0] and str(path) in shown[0][0]
    text = path.read_text(encoding="utf-8")
    assert "Traceback" in text and "in broken_slot" in text and "ValueError: the slot broke" in text
    button.click()  # still running: the next click is handled (and reported) too
    assert len(clicks) == 2 and len(shown) == 2


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_thread_is_shown_on_the_gui_thread(qtbot, crash_log):
    path, shown = crash_log

    def work() -> None:
        raise RuntimeError("worker failed")
    worker = threading.Thread(target=work, name="worker-1")
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert "RuntimeError: worker failed" in shown[0][0] and shown[0][1] is True
    assert "Unhandled exception in thread worker-1" in path.read_text(encoding="utf-8")


@pytest.mark.qt_no_exception_capture
def test_a_window_that_cannot_open_is_explained_not_silent(qtbot, crash_log, monkeypatch):
    from app import gui, main_window
    path, shown = crash_log

    def broken_window():
        raise OSError("disk on fire")
    monkeypatch.setattr(main_window, "MainWindow", broken_window)
    assert gui.run_gui([]) == 1
    assert len(shown) == 1 and "could not start" in shown[0][0] and "OSError: disk on fire" in shown[0][0]
    assert "The window could not be opened" in path.read_text(encoding="utf-8")


def test_packaged_entry_imports_torch_before_qt_and_calls_freeze_support(monkeypatch):
    from app import entry
    order: list[str] = []
    real_import = builtins.__import__

    def recording_import(name, *args, **kwargs):
        if name in ("torch", "app.gui"):
            order.append(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))  # a stand-in: no need to load torch here
    gui = types.ModuleType("app.gui")
    gui.run_gui = lambda: 0
    monkeypatch.setitem(sys.modules, "app.gui", gui)
    monkeypatch.setattr(builtins, "__import__", recording_import)
    monkeypatch.setattr("multiprocessing.freeze_support", lambda: order.append("freeze_support"))
    assert entry.main([]) == 0 and order == ["app.gui"]  # from a checkout: the window first, torch later
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    order.clear()
    assert entry.main([]) == 0 and order == ["freeze_support", "torch", "app.gui"]


# The real flow, as the packaged app runs it: no console (stdout and stderr None), and none of the
# modules build_installer.py leaves out can be found (so the bundle would not miss them).
WINDOWED_WITHOUT_EXCLUDES = """
import importlib.machinery, sys
excluded = set(sys.argv[1].split(","))
find = importlib.machinery.PathFinder.find_spec.__func__
def find_spec(cls, name, path=None, target=None):
    if any(name == e or name.startswith(e + ".") for e in excluded):
        return None
    return find(cls, name, path, target)
importlib.machinery.PathFinder.find_spec = classmethod(find_spec)
sys.stdout = sys.stderr = None
from app.entry import main
sys.exit(main(["--self-test", "--image-size", "64", "--timeout", "240"]))
"""


@pytest.mark.slow
def test_self_test_passes_windowed_without_the_excluded_modules(tmp_path):
    from app.self_test import OK_LINE
    excludes = ",".join(build_installer.build_options()["excludes"])
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", logs.LOG_ENV: str(tmp_path),
           "TRANSFERLAB_DATA_DIR": str(tmp_path / "must-stay-empty")}
    proc = subprocess.run([sys.executable, "-c", WINDOWED_WITHOUT_EXCLUDES, excludes], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    console = (tmp_path / "console.log").read_text(encoding="utf-8") if (tmp_path / "console.log").is_file() else ""
    assert proc.returncode == 0, console + proc.stdout + proc.stderr
    assert proc.stdout == "" and OK_LINE in console.splitlines()
    assert "weights: ImageNet weights bundled with TransferLab (offline)" in console
    assert not (tmp_path / "must-stay-empty").exists()  # runs went to the self-test's own temporary folder
    assert "self-test passed" in (tmp_path / "transferlab.log").read_text(encoding="utf-8")


def test_smoke_tool_splits_the_bundle_size_and_checks_the_report(tmp_path):
    from tools.smoke_bundle import EXPECTED, missing_lines, sizes
    files = {"TransferLab": 10, "_internal/torch/lib/libtorch_cpu.so": 100, "_internal/torch/lib/libcudart.so.13": 7,
             "_internal/nvidia/cublas/lib/libcublas.so.13": 1000, "_internal/libcudnn.so.9": 3,
             "_internal/PySide6/Qt/lib/libQt6Core.so.6": 50, "_internal/libcurl.so.4": 1}
    for name, size in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * size)
    (tmp_path / "_internal" / "libcublas.so.13").symlink_to(tmp_path / "_internal/nvidia/cublas/lib/libcublas.so.13")
    assert sizes(tmp_path) == {"torch": 100, "NVIDIA CUDA libraries": 1010, "Qt (PySide6)": 50, "everything else": 11}
    report = "\n".join(EXPECTED)
    assert missing_lines(report) == [] and missing_lines(report.replace("self-test OK", "")) == ["self-test OK"]


def test_self_test_gives_up_with_a_reason_after_its_timeout(tmp_path):
    from app.self_test import FAILED_PREFIX, TIMEOUT_EXIT
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", logs.LOG_ENV: str(tmp_path), "TMPDIR": str(scratch)}
    proc = subprocess.run([sys.executable, "-m", "app.entry", "--self-test", "--timeout", "1"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == TIMEOUT_EXIT, proc.stdout + proc.stderr
    assert proc.stdout.startswith(FAILED_PREFIX + "did not finish within 1 s") and "Thread" in proc.stderr
    assert not any(p.name.startswith("transferlab-self-test-") for p in scratch.iterdir())  # its folder removed
