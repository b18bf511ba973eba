"""Run a frozen network once per image (per view) and keep what it computes.

Used for the pooled features of a frozen backbone (feature extraction, earlier-layer features)
and for the activations at the freeze boundary (partial fine-tuning without augmentation). The
arrays live in memory, or in a file in the per-user cache when they are larger than the memory
budget (read back as a memory map), and are kept on disk for the next run with the same key:
the same files (:func:`core.base.fingerprint.files_fingerprint`), the same frozen weights, layer,
preprocessing, views and precision. The user's dataset folder is only read.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.base.cancel import CancelToken, cancel_hooks, check
from core.base.fingerprint import dict_fingerprint
from core.base.paths import cache_dir
from core.base.progress import Progress, report
from core.models.accel import ComputePlan
from core.models.fold import folded_copy
from core.models.preprocess import Preprocessing, normalize_batch
from core.training.decode_cache import decode_resized, ordered_map, short_side_resizer

DISK_CACHE_LIMIT_BYTES = 4 << 30  # older cached arrays are removed past this total


@dataclass
class TensorSet:
    """Outputs of the frozen network for the readable images, ``views`` rows per image."""

    data: np.ndarray  # (views, n, *shape) float32; in memory or a read-only memory map
    labels: torch.Tensor  # (n,) long
    kept: list[int]  # positions of the readable images in the input list
    from_disk: bool = False  # reused from an earlier run

    @property
    def views(self) -> int:
        return int(self.data.shape[0])

    def __len__(self) -> int:
        return int(self.data.shape[1])

    def rows(self, view: int, indices: torch.Tensor | Sequence[int]) -> torch.Tensor:
        idx = np.asarray(indices, dtype=np.int64)
        return torch.from_numpy(np.ascontiguousarray(self.data[view % self.views, idx]))

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)


def side_by_side(a: TensorSet, b: TensorSet) -> TensorSet:
    """Two caches of the same images (the same readable ones, in the same order) as one, columns of ``a`` first."""
    if a.kept != b.kept or not torch.equal(a.labels, b.labels) or a.views != b.views:
        raise ValueError("the two caches hold different images")
    return TensorSet(np.concatenate([a.data, b.data], axis=-1), a.labels, list(a.kept), a.from_disk and b.from_disk)


class FoldOnce:
    """An encoder as the passes run it: BatchNorm folded into its convolutions (a quarter faster, the same
    outputs within 1e-5: core.models.fold), on the plan's device. Folded when a pass first needs it, then
    shared by every pass given this object (a run's training and validation images; the advisor's), since
    folding costs a copy and three small forward passes, about a tenth of a second. The encoder must not
    change in between."""

    def __init__(self, encoder: nn.Module) -> None:
        self.encoder = encoder
        self._ready: dict[tuple, nn.Module] = {}

    def module(self, size: int, plan: ComputePlan) -> nn.Module:
        """Folded on ``size``-pixel input (what the network will see: a fixed-size model, such as a ViT,
        takes nothing else), prepared for ``plan``."""
        where = (size, str(plan.device), plan.channels_last)
        if where not in self._ready:
            probe = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0)).to(plan.device)
            self._ready[where] = plan.prepare_module(folded_copy(self.encoder, probe))
        return self._ready[where]


def features_dir() -> Path:
    path = cache_dir() / "features"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _paths_for(key: dict) -> tuple[Path, Path]:
    digest = dict_fingerprint(key)
    return features_dir() / f"{digest}.npy", features_dir() / f"{digest}.json"


def _private(path: Path, tail: str) -> Path:
    """A temporary name next to ``path`` no other process uses (ranks of a distributed run on a shared disk,
    or two runs with the same key at once); the finished file then replaces ``path`` atomically."""
    return path.parent / f"{path.stem}.{socket.gethostname()}-{os.getpid()}{tail}"


def _meta(key: dict) -> dict | None:
    """The metadata of ``key``'s cached arrays, when both files are there and were written for this key."""
    array_path, meta_path = _paths_for(key)
    if not (array_path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if meta.get("key") == json.loads(json.dumps(key, default=str)) else None


def is_cached(key: dict) -> bool:
    """Whether ``key``'s arrays are on disk (read no further)."""
    return _meta(key) is not None


def _load(key: dict, budget_bytes: int) -> TensorSet | None:
    array_path, _ = _paths_for(key)
    meta = _meta(key)
    if meta is None:
        return None
    try:
        data = np.load(array_path, mmap_mode="r")
        if data.nbytes <= budget_bytes:
            data = np.array(data)
        os.utime(array_path)  # most recently used
        return TensorSet(data, torch.tensor(meta["labels"], dtype=torch.long), list(meta["kept"]), True)
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache entry is simply recomputed


def _save_meta(key: dict, labels: list[int], kept: list[int]) -> None:
    _, meta_path = _paths_for(key)
    tmp = _private(meta_path, ".json.tmp")
    tmp.write_text(json.dumps({"key": key, "labels": labels, "kept": kept}, default=str), encoding="utf-8")
    os.replace(tmp, meta_path)


def _evict(limit_bytes: int = DISK_CACHE_LIMIT_BYTES) -> None:
    arrays = sorted(features_dir().glob("*.npy"), key=lambda p: p.stat().st_mtime, reverse=True)
    total = 0
    for path in arrays:
        total += path.stat().st_size
        if total > limit_bytes:
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)


class _Writer:
    """Rows written batch by batch into memory, or into the cache file past the budget."""

    def __init__(self, key: dict, views: int, count: int, budget_bytes: int) -> None:
        self.key, self.views, self.count, self.budget = key, views, count, budget_bytes
        self.data: np.ndarray | None = None
        self.spilled = False
        self.tmp_path: Path | None = None

    def write(self, view: int, start: int, rows: np.ndarray) -> None:
        if self.data is None:
            shape = (self.views, self.count, *rows.shape[1:])
            nbytes = int(np.prod(shape)) * 4
            if nbytes > self.budget:
                array_path, _ = _paths_for(self.key)
                self.tmp_path = _private(array_path, ".npy.tmp")
                self.data = np.lib.format.open_memmap(self.tmp_path, mode="w+", dtype=np.float32, shape=shape)
                self.spilled = True
            else:
                self.data = np.empty(shape, dtype=np.float32)
        self.data[view, start:start + len(rows)] = rows

    def finish(self, kept: int, save: bool = True) -> np.ndarray:
        """The array truncated to the readable images, saved for reuse (``save``; one past the memory
        budget lives in the cache file all the same)."""
        array_path, _ = _paths_for(self.key)
        if self.data is None:
            return np.empty((self.views, 0), dtype=np.float32)
        if self.spilled:
            self.data.flush()
            del self.data
            os.replace(self.tmp_path, array_path)
            return np.load(array_path, mmap_mode="r")[:, :kept]
        data = self.data[:, :kept]
        if not save:
            return data
        tmp = _private(array_path, ".tmp.npy")
        try:
            np.save(tmp, data)
            os.replace(tmp, array_path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full cache disk only costs the reuse next time
        return data

    def abort(self) -> None:
        if self.tmp_path is not None:
            self.data = None
            self.tmp_path.unlink(missing_ok=True)


@torch.inference_mode()
def compute_or_load(key: dict, files: Sequence[tuple[Path, int]], encoder: nn.Module | FoldOnce,
                    views: Sequence[Callable[[torch.Tensor], torch.Tensor]], decode_size: int, pp: Preprocessing,
                    plan: ComputePlan, batch_size: int, budget_bytes: int, cancel: CancelToken | None = None,
                    progress: Progress | None = None, companions: Sequence[tuple[dict, int]] = ()) -> TensorSet:
    """``encoder`` (frozen, eval mode) over every readable image of ``files``, once per view.

    Each view maps a decoded uint8 image (short side ``decode_size``) to a uint8 crop; random
    views draw from torch's global generator in a fixed order, so a seeded run is repeatable.

    ``companions``: (key, width) of more outputs the same pass computes, for a later run to reuse (an
    earlier level's pooled features beside the final ones): the encoder's rows end with their columns,
    in this order. Each is saved under its own key; only the leading columns, ``key``'s, are returned.
    With a companion missing from the disk, everything is computed again.
    """
    if not files:  # e.g. no validation images: nothing to run the network on
        return TensorSet(np.empty((len(views), 0), dtype=np.float32), torch.empty(0, dtype=torch.long), [])
    found = _load(key, budget_bytes)
    if found is not None and all(is_cached(k) for k, _ in companions):
        report(progress, len(files), len(files))
        return found
    return compute(key, files, encoder, views, decode_size, pp, plan, batch_size, budget_bytes, cancel, progress,
                   companions)[0]


@torch.inference_mode()
def compute(key: dict, files: Sequence[tuple[Path, int]], encoder: nn.Module | FoldOnce,
            views: Sequence[Callable[[torch.Tensor], torch.Tensor]], decode_size: int, pp: Preprocessing,
            plan: ComputePlan, batch_size: int, budget_bytes: int, cancel: CancelToken | None = None,
            progress: Progress | None = None, companions: Sequence[tuple[dict, int]] = (), save: bool = True,
            watch: Callable[[nn.Module], Callable[[], None]] | None = None) -> list[TensorSet]:
    """What :func:`compute_or_load` computes when nothing is cached, always: ``key``'s set, then each
    companion's. ``save=False``: kept in memory only (a measurement on a sample no run trains on).
    ``watch``: called with the network as it runs (folded, on the device) before the first image, to
    attach hooks; it returns what removes them (the advisor's similarity statistics). ``encoder`` as a
    :class:`FoldOnce` shares its folded copy with other passes."""
    if not files:
        return [TensorSet(np.empty((len(views), 0), dtype=np.float32), torch.empty(0, dtype=torch.long), [])
                for _ in range(1 + len(companions))]
    resize = short_side_resizer(decode_size, pp)
    encoder = (encoder if isinstance(encoder, FoldOnce) else FoldOnce(encoder)).module(pp.input_size, plan)
    hooks = cancel_hooks(encoder, cancel)  # felt within part of a batch
    unwatch = watch(encoder) if watch is not None else None
    writers = [_Writer(k, len(views), len(files), budget_bytes) for k in [key, *(k for k, _ in companions)]]
    widths = [width for _, width in companions]
    kept: list[int] = []
    labels: list[int] = []
    pending: list[list[torch.Tensor]] = []

    def flush() -> None:
        start = len(kept) - len(pending)
        for v in range(len(views)):
            x = normalize_batch(plan.to_device(torch.stack([p[v] for p in pending])), pp)
            with plan.autocast():
                out = encoder(x)
            rows = out.float().cpu().reshape(len(pending), *out.shape[1:]).numpy()
            for writer, part in zip(writers, _columns(rows, widths)):
                writer.write(v, start, part)
        pending.clear()

    try:
        decoded = ordered_map(lambda f: decode_resized(f[0], resize), list(files), cancel=cancel)
        for i, image in enumerate(decoded):
            check(cancel)
            if image is not None:
                kept.append(i)
                labels.append(files[i][1])
                pending.append([view(image) for view in views])
                if len(pending) == batch_size:
                    flush()
            report(progress, i + 1, len(files))
        if pending:
            flush()
        data = [writer.finish(len(kept), save) for writer in writers]
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    finally:
        for hook in hooks:  # the folded copy may serve another pass
            hook.remove()
        if unwatch is not None:
            unwatch()
    if save:
        for writer in writers:
            _save_meta(writer.key, labels, kept)
        _evict()
    return [TensorSet(d, torch.tensor(labels, dtype=torch.long), list(kept)) for d in data]


def _columns(rows: np.ndarray, widths: Sequence[int]) -> list[np.ndarray]:
    """``rows`` split into the leading columns and, after them, one block per width (none: ``rows`` whole)."""
    if not widths:
        return [rows]
    if rows.ndim != 2 or rows.shape[1] <= sum(widths):
        raise ValueError(f"rows of shape {rows.shape} cannot end with companion columns of widths {list(widths)}")
    edges = np.cumsum([rows.shape[1] - sum(widths), *widths])[:-1]
    return [np.ascontiguousarray(part) for part in np.split(rows, edges, axis=1)]
