"""Where TransferLab keeps its own files. Never inside the user's dataset."""

import os
from pathlib import Path

import platformdirs

CACHE_ENV = "TRANSFERLAB_CACHE_DIR"


def cache_dir() -> Path:
    """Per-user cache directory (override with the TRANSFERLAB_CACHE_DIR variable)."""
    override = os.environ.get(CACHE_ENV)
    path = Path(override) if override else Path(platformdirs.user_cache_dir("TransferLab", "TransferLab"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def weights_cache_dir() -> Path:
    path = cache_dir() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path
