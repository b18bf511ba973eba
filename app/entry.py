"""The ``transferlab`` command: no arguments opens the app, ``--self-test`` checks it, a subcommand runs headless.

This file is also the packaged app's entry point (build_installer.py). There, ``sys.frozen`` is set and:
worker processes must be answered by ``freeze_support``; the windowed app has no console, so
stdout/stderr get a file before anything prints; torch is imported before Qt, because on Windows
loading Qt's DLLs first can make torch's fail to load.
"""

import multiprocessing
import sys

SELF_TEST_FLAG = "--self-test"


def _load_torch_first() -> None:
    """In the packaged app only: torch before Qt. A normal run shows the window before torch loads."""
    if getattr(sys, "frozen", False):
        import torch  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    if getattr(sys, "frozen", False):
        multiprocessing.freeze_support()  # a child process started by multiprocessing runs its task and exits here
    from app.logs import ensure_std_streams
    ensure_std_streams()
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == [SELF_TEST_FLAG]:
        _load_torch_first()
        from app.self_test import main as self_test_main
        return self_test_main(args[1:])
    if not args:
        from app.display_check import exit_if_no_display
        exit_if_no_display()  # a clear paragraph and exit code 2 where Qt would abort
        _load_torch_first()
        from app.gui import run_gui  # Qt is imported only for the GUI
        return run_gui()
    from core.cli.main import main as cli_main
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
