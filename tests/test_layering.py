"""core/ is a plain library in layers: it never imports Qt, directly or through a dependency; each layer
imports only the layers below it (import-linter's contracts in pyproject.toml); no module takes another's
private names; there are no import cycles."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6", "app")


def core_modules() -> list[str]:
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "core").rglob("*.py")
                  if p.stem not in ("__init__", "__main__"))


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
    assert "core.training.trainer" in modules and "core.cli.main" in modules
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


def test_import_linter_contracts_hold():
    """The layers and the no-Qt rule of pyproject.toml's [tool.importlinter] (imports inside functions count)."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "0 broken" in out.stdout, out.stdout + out.stderr


def _core_imports() -> dict[str, list[tuple[str, list[str]]]]:
    """module -> (imported core module, names taken) for every import in core, inside functions too."""
    graph = {}
    for path in (ROOT / "core").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        edges = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("core"):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    is_module = (ROOT / Path(*target.split("."))).with_suffix(".py").exists()
                    edges.append((target, []) if is_module else (node.module, [alias.name]))
            elif isinstance(node, ast.Import):
                edges += [(a.name, []) for a in node.names if a.name.startswith("core.")]
        graph[module] = edges
    return graph


def test_no_module_takes_another_modules_private_names():
    taken = [f"{module} takes {name} from {target}" for module, edges in _core_imports().items()
             for target, names in edges for name in names if name.startswith("_") and name != "__version__"]
    assert taken == []


def test_core_has_no_import_cycles():
    imports = _core_imports()
    graph = {m: {t for t, _ in edges if t in imports and t != m} for m, edges in imports.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))  # t is still open: on the stack
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []
