"""core/ is a plain library: it must never import Qt, directly or through a dependency."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6", "app")


def core_modules() -> list[str]:
    return sorted(f"core.{p.stem}" for p in (ROOT / "core").glob("*.py") if p.stem != "__init__")


def test_core_source_has_no_qt_imports():
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_all_of_core_loads_no_qt():
    modules = core_modules()
    assert "core.trainer" in modules and "core.cli" in modules
    code = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\nprint(bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_headless_cli_does_not_import_qt():
    code = ("import sys\nfrom app.entry import main\nrc = main(['models', '--json'])\n"
            "assert rc == 0\nassert not any(m.startswith('PySide6') for m in sys.modules), 'Qt imported'")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_the_window_is_shown_before_torch_is_imported():
    """torch, torchvision and timm take seconds to import; the window must not wait for them."""
    code = ("import os, sys\nos.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from PySide6.QtWidgets import QApplication\napp = QApplication([])\n"
            "from app.main_window import MainWindow\nw = MainWindow()\nw.show()\napp.processEvents()\n"
            "heavy = sorted(m for m in ('torch', 'torchvision', 'timm') if m in sys.modules)\n"
            "w.close()\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**__import__("os").environ, "TRANSFERLAB_DATA_DIR": str(ROOT / ".pytest_cache")})
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
