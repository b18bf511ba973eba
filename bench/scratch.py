"""A bench's scratch folder: made under the system's temporary folder and removed when the bench exits,
so repeated runs (``make test`` runs every bench's quick mode) do not fill the disk."""
from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_dir(prefix: str) -> Path:
    """A new empty folder, deleted with everything in it when the process exits (normally or by an exception)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
