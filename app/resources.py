"""Locating files in ``resources/``, from a checkout or from a PyInstaller bundle."""

import sys
from pathlib import Path


def resources_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def sample_data_dir() -> Path:
    return resources_dir() / "sample_data"
