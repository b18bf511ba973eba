"""Can Qt open a window here? Checked before the QApplication exists, because when Qt's platform
plugin cannot load, Qt aborts the process (SIGABRT) with only its own terse message.

On Linux, Qt 6.5 and newer need several xcb helper libraries that minimal Debian and Ubuntu installs
lack (PySide6's most common first-run failure); a display must also be reachable. The check finds the
plugin Qt will try (``QT_QPA_PLATFORM``, else Qt's own default), lists the system libraries it cannot
load (``ldd``, else the dynamic loader's error), and for xcb tries to connect to the X server. When no
candidate can work it returns one paragraph that names what is missing and the command that installs
it. Nothing here imports more of Qt than QtCore, which loads no plugin.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Qt's xcb plugin's system libraries -> (Debian/Ubuntu package, Fedora/RHEL package).
PACKAGES = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl"),
}
# What Qt's documentation lists for the xcb platform, for the paragraph's complete command.
XCB_DEBIAN = ("libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 "
              "libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libfontconfig1")
XCB_FEDORA = "xcb-util-cursor xcb-util-wm xcb-util-image xcb-util-keysyms xcb-util-renderutil libxkbcommon-x11"
HEADLESS = ("On a computer without a screen, the command line works as is (transferlab --help), and "
            "QT_QPA_PLATFORM=offscreen runs the app without showing a window.")


def candidates(environ: dict | None = None) -> list[str]:
    """The platform plugins Qt will try, in order (``QT_QPA_PLATFORM``, else Qt's default)."""
    environ = os.environ if environ is None else environ
    requested = environ.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        return [name.split(":")[0].strip() for name in requested.split(";") if name.strip()]
    if sys.platform == "darwin":
        return ["cocoa"]
    if sys.platform == "win32":
        return ["windows"]
    if environ.get("XDG_SESSION_TYPE") == "wayland":
        return ["wayland", "xcb"]
    return ["xcb"]


def plugin_dirs(environ: dict | None = None) -> list[Path]:
    """Where Qt looks for platform plugins: QT_QPA_PLATFORM_PLUGIN_PATH, QT_PLUGIN_PATH, its own."""
    environ = os.environ if environ is None else environ
    dirs = [Path(environ["QT_QPA_PLATFORM_PLUGIN_PATH"])] if environ.get("QT_QPA_PLATFORM_PLUGIN_PATH") else []
    dirs += [Path(p) / "platforms" for p in environ.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    from PySide6.QtCore import QLibraryInfo
    dirs.append(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms")
    return dirs


def find_plugin(name: str, dirs: list[Path]) -> Path | None:
    file = {"win32": f"q{name}.dll", "darwin": f"libq{name}.dylib"}.get(sys.platform, f"libq{name}.so")
    return next((d / file for d in dirs if (d / file).is_file()), None)


def available(dirs: list[Path]) -> list[str]:
    names = set()
    for d in dirs:
        with contextlib.suppress(OSError):
            names.update(p.name.split(".")[0].removeprefix("lib").removeprefix("q") for p in d.iterdir()
                         if p.suffix in (".so", ".dll", ".dylib"))
    return sorted(names)


def missing_libraries(plugin: Path) -> list[str]:
    """System libraries ``plugin`` needs (directly or through Qt's own) that cannot be found."""
    if sys.platform != "linux":
        return []
    if shutil.which("ldd"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=20).stdout
            return parse_ldd(out)
    try:  # no ldd: the loader names the first library it misses
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        return [str(exc).split(":")[1].strip() if ":" in str(exc) else str(exc)]
    return []


def parse_ldd(output: str) -> list[str]:
    """The libraries ``ldd`` reports as ``not found``, each once, in order."""
    found = [line.split("=>")[0].strip() for line in output.splitlines() if "not found" in line]
    return list(dict.fromkeys(found))


def x_display_problem(environ: dict | None = None) -> str | None:
    """Why no X server can be reached, or None when one answers (or libxcb itself cannot load)."""
    environ = os.environ if environ is None else environ
    display = environ.get("DISPLAY")
    if not display:
        return "no display was found (the DISPLAY variable is not set)"
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None  # reported as a missing library
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        if xcb.xcb_connection_has_error(connection):
            return f"the display {display} does not answer (no X server is running there, or access is refused)"
    finally:
        xcb.xcb_disconnect(connection)
    return None


def display_problem(plugin: str, environ: dict) -> str | None:
    """Why the display ``plugin`` draws on cannot be reached (xcb: an X server; wayland: a compositor)."""
    if plugin == "xcb":
        return x_display_problem(environ)
    if plugin == "wayland":
        socket = Path(environ.get("XDG_RUNTIME_DIR", "/nonexistent")) / environ.get("WAYLAND_DISPLAY", "wayland-0")
        if not socket.exists():
            return "no Wayland session was found (no WAYLAND_DISPLAY socket)"
    return None


def install_commands(missing: list[str]) -> tuple[str, str]:
    """apt and dnf commands for ``missing`` libraries (plus Qt's whole xcb list when one is unknown)."""
    debian = [PACKAGES[lib][0] for lib in missing if lib in PACKAGES]
    fedora = [PACKAGES[lib][1] for lib in missing if lib in PACKAGES]
    if len(debian) < len(missing):
        debian, fedora = debian + XCB_DEBIAN.split(), fedora + XCB_FEDORA.split()
    return (f"sudo apt install {' '.join(dict.fromkeys(debian))}",
            f"sudo dnf install {' '.join(dict.fromkeys(fedora))}")


def missing_text(plugin: str, missing: list[str]) -> str:
    apt, dnf = install_commands(missing)
    return (f'Qt\'s "{plugin}" display plugin needs system libraries that are not installed: '
            f"{', '.join(missing)}. Install them, then start TransferLab again (make run):\n"
            f"    Debian/Ubuntu:  {apt}\n    Fedora/RHEL:    {dnf}" +
            (f"\n(All that Qt 6.5 and newer need for X11, on Debian/Ubuntu: {XCB_DEBIAN}.)" if plugin == "xcb" else ""))


def problem(environ: dict | None = None) -> str | None:
    """None when Qt can open a window with one of the platforms it will try; else what to do."""
    environ = os.environ if environ is None else environ
    dirs = plugin_dirs(environ)
    reasons = []
    for name in candidates(environ):
        plugin = find_plugin(name, dirs)
        if plugin is None:
            reasons.append(f'Qt\'s display plugin "{name}" does not exist here (QT_QPA_PLATFORM names it; '
                           f"available: {', '.join(available(dirs)) or 'none'}). Unset QT_QPA_PLATFORM, or set "
                           "it to one of those.")
            continue
        missing = missing_libraries(plugin)
        if missing:
            reasons.append(missing_text(name, missing))
            continue
        display = display_problem(name, environ) if sys.platform == "linux" else None
        if display:
            reasons.append(f"TransferLab needs a screen, but {display}. Start it from a desktop session.")
            continue
        return None
    return ("TransferLab cannot open its window.\n" + "\n".join(reasons) + "\n" + HEADLESS) if reasons else None


def exit_if_no_display() -> None:
    """Print the problem and exit with code 2 when Qt could not open a window (instead of an abort)."""
    text = problem()
    if text:
        print(text, file=sys.stderr)
        raise SystemExit(2)
