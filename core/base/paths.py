"""Where TransferLab keeps its own files. Never inside the user's dataset."""

import os
from pathlib import Path

import platformdirs

CACHE_ENV = "TRANSFERLAB_CACHE_DIR"
DATA_ENV = "TRANSFERLAB_DATA_DIR"


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


def computer_dir() -> Path:
    """What was measured about this computer once (how fast it fits a classifier): kept beside the cache."""
    path = cache_dir() / "computer"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir(create: bool = True) -> Path:
    """Per-user data directory for runs the app trains (override with TRANSFERLAB_DATA_DIR); ``create=False``
    only names it (a read that finds nothing leaves nothing behind)."""
    override = os.environ.get(DATA_ENV)
    path = Path(override) if override else Path(platformdirs.user_data_dir("TransferLab", "TransferLab"))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def new_run_dir(model_name: str, kind: str = "runs") -> Path:
    """A fresh, not yet existing folder such as ``runs/2026-11-22_1405_tf_efficientnet_lite0``
    (``kind="comparisons"``: a comparison's folder, holding one run per candidate)."""
    import re
    from datetime import datetime

    base = data_dir() / kind
    stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
    name = f"{stamp}_{re.sub(r'[^A-Za-z0-9_.-]+', '-', model_name)}"
    candidate, n = base / name, 1
    while candidate.exists():
        n += 1
        candidate = base / f"{name}-{n}"
    return candidate
