"""One run trained by several processes (``--distributed`` under torchrun): PyTorch DistributedDataParallel.

Start it with::

    torchrun --nproc_per_node=N -m core.cli train DATA --out RUN --distributed [--config run-config.json] [flags]
    # on several machines: torchrun --nnodes=M --node_rank=K --master_addr=HOST --master_port=PORT ...

Each process (rank) trains on ``cuda:LOCAL_RANK`` with NCCL when CUDA is used, on the CPU with gloo
otherwise. The optimisation is the one a single process makes with the same batch size:

* every rank draws the same *global* batch order from the seeded sampler (core.training.engines) and takes
  its strided slice of each global batch (``indices[rank::world]``, DistributedSampler-style);
* each rank's loss is its share of the global batch's (class-weighted) mean, scaled so that DDP's
  gradient averaging gives exactly the single-process gradient, whatever the slice sizes; the L2-SP
  penalty is added once per rank and averaged back to once;
* BatchNorm layers in train mode see only their rank's slice (so fine-tuning with trainable BatchNorm
  matches a single process only approximately); their running statistics are averaged over the ranks
  after each epoch. Frozen (eval-mode) BatchNorm, feature extraction and truncated runs match exactly
  up to float summation order. Random augmentation draws per rank (statistically, not bitwise, equal);
* validation is sharded and its sums all-reduced, so every rank logs the same history (what a single
  process logs, within float tolerance) and takes the same early-stopping and best-epoch decisions;
* cached features / boundary activations (core.training.feature_cache) are computed by local rank 0 of each
  machine and written to the per-user disk cache; the other ranks wait, then read that file;
* only rank 0 writes: run.json, the checkpoints (with every rank's random-generator state, so a
  distributed run resumes exactly with the same number of processes) and the model bundle; the
  temperature is fitted on rank 0 from the validation logits gathered from all ranks.

A failing or cancelled rank: torchrun stops the other processes when one exits with an error; without
that, every collective gives up after ``--dist-timeout`` seconds (default 1800) rather than hang.

The run configuration file (``--config FILE``, written by the app's "Export run configuration")::

    {"format": "transferlab-run-config", "version": 1,
     "data": "/path/to/dataset",                      # optional when DATA is given on the command line
     "settings": {...TrainSettings.to_dict()...},     # every field optional; unknown keys ignored
     "target_images": "/path/to/unlabeled", "target_test": "/path", "domain_weight": 1.0}   # optional

Settings come from the file; command-line flags that are given override them (``--strategy`` then
re-derives that strategy's defaults first, as without a file).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from core.base.errors import TransferLabError
from core.training.cluster import CONFIG_FORMAT

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Session:
    rank: int
    world: int
    local_rank: int
    backend: str

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def comm_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")


_current: Session | None = None


def current() -> Session | None:
    """The distributed session this process takes part in, or None (a single process)."""
    return _current


def shard() -> tuple[int, int]:
    """(rank, number of ranks); (0, 1) for a single process."""
    return (_current.rank, _current.world) if _current else (0, 1)


def is_main() -> bool:
    return _current is None or _current.main


def _env_int(name: str) -> int:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError) as exc:
        raise TransferLabError(f"--distributed needs the environment torchrun sets ({name} is missing); start "
                               "it with 'torchrun --nproc_per_node=N -m core.cli train ... --distributed'") from exc


def start(device_choice: str = "auto", timeout_s: float = DEFAULT_TIMEOUT_S) -> Session:
    """Join the process group torchrun describes: NCCL on ``cuda:LOCAL_RANK``, gloo on the CPU."""
    global _current
    rank, world, local_rank = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    use_cuda = device_choice in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise TransferLabError(f"Local rank {local_rank} has no GPU ({torch.cuda.device_count()} here); "
                                   "use at most one process per GPU")
        torch.cuda.set_device(local_rank)
    backend = "nccl" if use_cuda else "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s),
                            **({"device_id": torch.device("cuda", local_rank)} if use_cuda else {}))
    _current = Session(rank, world, local_rank, backend)
    return _current


def stop() -> None:
    global _current
    if dist.is_initialized():
        dist.destroy_process_group()
    _current = None


@contextlib.contextmanager
def session(device_choice: str = "auto", timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[Session]:
    try:
        yield start(device_choice, timeout_s)
    finally:
        stop()


def local_device(device: torch.device) -> torch.device:
    """This rank's GPU when the run is on CUDA."""
    if _current is not None and device.type == "cuda":
        return torch.device("cuda", _current.local_rank)
    return device


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sums over the ranks (float64); the values themselves for a single process."""
    if _current is None:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_current.comm_device)
    dist.all_reduce(t)
    return t.tolist()


def gather(obj: T) -> list[T]:
    """Every rank's ``obj``, in rank order (picklable objects; tensors come back on the CPU)."""
    if _current is None:
        return [obj]
    out: list = [None] * _current.world
    dist.all_gather_object(out, obj)
    return out


def main_first(fn: Callable[[], T], others: bool = True) -> T | None:
    """``fn`` on local rank 0 of each machine first (e.g. filling the disk cache), then, when ``others``,
    on the other ranks. A failure there fails every rank (no rank waits for one that gave up)."""
    if _current is None:
        return fn()
    first = _current.local_rank == 0
    result, error = None, None
    if first:
        try:
            result = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after telling the others
            error = exc
    failed = all_sum([1.0 if error is not None else 0.0])[0]
    if error is not None:
        raise error
    if failed:
        raise TransferLabError("Another training process failed; see its messages")
    return fn() if others and not first else result


def from_main(fn: Callable[[], T]) -> T:
    """``fn`` run on rank 0 only, its (picklable) result given to every rank; its error raised on all."""
    if _current is None:
        return fn()
    box: list = [None]
    error = None
    if _current.main:
        try:
            box[0] = ("ok", fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after telling the others
            error, box[0] = exc, ("error", str(exc))
    dist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    if box[0][0] == "error":
        raise TransferLabError(box[0][1])
    return box[0][1]


def wrap(module: nn.Module, device: torch.device) -> nn.Module | None:
    """``module`` in DistributedDataParallel (gradients averaged over the ranks), or None for one process.
    Buffers are not broadcast per step: :func:`sync_buffers` averages them after each epoch."""
    if _current is None or not any(p.requires_grad for p in module.parameters()):
        return None
    import inspect

    from torch.nn.parallel import DistributedDataParallel
    ids = [device.index] if device.type == "cuda" else None
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    no_sync = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    return DistributedDataParallel(module, device_ids=ids, **no_sync)


def sync_buffers(net: nn.Module) -> None:
    """Average the floating-point buffers of modules in train mode (BatchNorm running statistics) over
    the ranks; frozen modules' buffers are the same everywhere already and are left bit-identical."""
    if _current is None:
        return
    for module in net.modules():
        if not module.training:
            continue
        for buf in module.buffers(recurse=False):
            if buf.is_floating_point():
                t = buf.detach().to(_current.comm_device)
                dist.all_reduce(t)
                buf.copy_(t / _current.world)


def step_totals(local_denominator: float, local_count: int) -> tuple[float, int]:
    """The global batch's loss denominator and image count; refuses a step some rank has no image for."""
    denom, count, empty = all_sum([local_denominator, float(local_count), 0.0 if local_count else 1.0])
    if empty:
        raise TransferLabError("A training process got no readable image of a batch; use a batch size of at "
                               "least twice the number of processes, or remove unreadable images")
    return denom, int(count)


@dataclass
class RunConfig:
    """What ``--config FILE`` holds (see the module docstring)."""

    data: str | None
    settings: dict
    target_images: str | None = None
    target_test: str | None = None
    domain_weight: float | None = None


def load_config(path: Path) -> RunConfig:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TransferLabError(f"Cannot read the run configuration {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("settings", {}), dict):
        raise TransferLabError(f"{path} is not a TransferLab run configuration (a JSON object with \"settings\")")
    if raw.get("format", CONFIG_FORMAT) != CONFIG_FORMAT:
        raise TransferLabError(f"{path} is not a TransferLab run configuration (format {raw.get('format')!r})")
    return RunConfig(raw.get("data"), dict(raw.get("settings", {})), raw.get("target_images"),
                     raw.get("target_test"), raw.get("domain_weight"))


def override(settings, values: dict):
    """``settings`` with the given (not None) values replaced."""
    return replace(settings, **{k: v for k, v in values.items() if v is not None})
