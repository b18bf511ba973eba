"""The first launch explains itself: where Qt would abort because its platform plugin cannot load,
``transferlab`` prints what to install (or set) and exits with code 2. No display is needed."""

import os
import subprocess
import sys
from pathlib import Path

from app import display_check

ROOT = Path(__file__).resolve().parents[1]
LDD = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def _start_app(tmp_path: Path, env_changes: dict, unset: tuple = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update({"PYTHONPATH": str(ROOT), "TRANSFERLAB_QUIT_AFTER_SHOW": "1", **env_changes,
                "TRANSFERLAB_LOG_DIR": str(tmp_path / "log"), "TRANSFERLAB_DATA_DIR": str(tmp_path / "data")})
    return subprocess.run([sys.executable, "-c", "from app.entry import main; raise SystemExit(main([]))"],
                          env=env, capture_output=True, text=True, timeout=120)


def test_a_platform_that_does_not_exist_gives_the_fix_and_exit_code_2(tmp_path):
    done = _start_app(tmp_path, {"QT_QPA_PLATFORM": "nonexistent"})
    assert done.returncode == 2, done.stderr  # not -6 (SIGABRT)
    assert 'display plugin "nonexistent" does not exist' in done.stderr and "offscreen" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_x11_without_a_display_gives_the_fix_and_exit_code_2(tmp_path):
    done = _start_app(tmp_path, {"QT_QPA_PLATFORM": "xcb"}, unset=("DISPLAY",))
    assert done.returncode == 2, done.stderr
    # either the missing xcb libraries with their install commands, or (all installed) no display
    assert ("sudo apt install" in done.stderr and "sudo dnf install" in done.stderr) or "DISPLAY" in done.stderr
    assert "QT_QPA_PLATFORM=offscreen" in done.stderr and "Traceback" not in done.stderr


def test_a_working_platform_opens_the_window(tmp_path):
    # an empty plugin folder of one's own does not hide Qt's own plugins (as in Qt itself)
    (tmp_path / "plugins").mkdir()
    done = _start_app(tmp_path, {"QT_QPA_PLATFORM": "offscreen", "QT_PLUGIN_PATH": "",
                                 "QT_QPA_PLATFORM_PLUGIN_PATH": str(tmp_path / "plugins")})
    assert done.returncode == 0 and "window shown" in done.stdout, done.stderr[-2000:]


def test_missing_libraries_are_read_from_ldd_and_named_with_their_packages():
    missing = display_check.parse_ldd(LDD)
    assert missing == ["libxcb-icccm.so.4", "libxcb-cursor.so.0"]
    apt, dnf = display_check.install_commands(missing)
    assert apt == "sudo apt install libxcb-icccm4 libxcb-cursor0"
    assert dnf == "sudo dnf install xcb-util-wm xcb-util-cursor"
    apt, _ = display_check.install_commands(["libsomething-new.so.1"])  # unknown: Qt's whole list
    assert "libxcb-cursor0" in apt and "libxkbcommon-x11-0" in apt
    text = display_check.missing_text("xcb", missing)
    assert "libxcb-icccm.so.4, libxcb-cursor.so.0" in text and "make run" in text


def test_the_platforms_qt_will_try():
    assert display_check.candidates({"QT_QPA_PLATFORM": "wayland:foo=1;xcb"}) == ["wayland", "xcb"]
    if sys.platform == "linux":
        assert display_check.candidates({}) == ["xcb"]
        assert display_check.candidates({"XDG_SESSION_TYPE": "wayland"}) == ["wayland", "xcb"]
        assert display_check.x_display_problem({}) is not None  # no DISPLAY
    assert display_check.problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert "minimal" in display_check.problem({"QT_QPA_PLATFORM": "nope"})  # the available ones are named
