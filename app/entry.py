"""The ``transferlab`` command: no arguments opens the app, a subcommand runs headless."""

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        from app.gui import run_gui  # Qt is imported only for the GUI
        return run_gui()
    from core.cli import main as cli_main
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
