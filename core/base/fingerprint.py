"""Cheap, stable fingerprints of input files and weights, used as cache keys."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

SAMPLE_BYTES = 64 * 1024


def file_fingerprint(path: Path) -> str:
    """Size, modification time and the first and last 64 KiB of the file's content.

    Reading whole files would cost minutes on a folder of large photos; any real edit changes
    the size, the time or the sampled bytes. The file is only read."""
    h = hashlib.blake2b(digest_size=16)
    st = os.stat(path)
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with open(path, "rb") as f:
        h.update(f.read(SAMPLE_BYTES))
        if st.st_size > 2 * SAMPLE_BYTES:
            f.seek(-SAMPLE_BYTES, os.SEEK_END)
            h.update(f.read(SAMPLE_BYTES))
    return h.hexdigest()


def files_fingerprint(paths: Iterable[Path]) -> str:
    """One fingerprint for an ordered list of files (order matters: rows of a cache follow it)."""
    h = hashlib.blake2b(digest_size=16)
    for path in paths:
        h.update(str(path).encode("utf-8", "surrogateescape"))
        try:
            h.update(file_fingerprint(path).encode())
        except OSError:
            h.update(b"unreadable")
    return h.hexdigest()


def modules_fingerprint(modules: Iterable[nn.Module]) -> str:
    """Every parameter and buffer of ``modules`` (names, shapes and bytes)."""
    h = hashlib.blake2b(digest_size=16)
    for module in modules:
        for name, tensor in module.state_dict().items():
            t = tensor.detach().cpu().contiguous()
            h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def dict_fingerprint(data: dict) -> str:
    import json
    return hashlib.blake2b(json.dumps(data, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()
