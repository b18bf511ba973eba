"""The training loop's state from epoch to epoch, and the checkpoint that keeps it on disk.

Every epoch ends with an atomic checkpoint (what training changed, optimiser, schedule, every random
generator's state, a training method's own state), so a run killed mid-epoch loses at most that
epoch; :func:`restore` puts a freshly built run back where the checkpoint left off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.base.atomic import atomic_write
from core.base.errors import TransferLabError
from core.models.network import depth_state
from core.training import distributed, runs
from core.training.run_setup import Run

CHECKPOINT_FILE = runs.CHECKPOINT_FILE


@dataclass
class LoopState:
    """What the loop carries from epoch to epoch (and a checkpoint restores)."""

    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"epoch": 0, "val_accuracy": -1.0, "val_loss": float("inf")})
    best_state: dict | None = None
    stale: int = 0
    micro_batch: int | None = None  # set after an out-of-memory retry


def changed_state(run: Run) -> dict[str, torch.Tensor]:
    """Everything the run may have changed by now (in a staged run also groups not yet unfrozen)."""
    return depth_state(run.net, run.settings.freeze_depth)


def save_checkpoint(run: Run, run_dir: Path, record: dict, epoch: int, p: LoopState) -> None:
    """What training changed so far (the frozen rest is the pretrained weights), written atomically."""
    rng = distributed.gather(runs.rng_state())  # every rank's generators, for an exact distributed resume
    if not distributed.is_main():
        return
    payload = {"epoch": epoch, "model": changed_state(run), "optimizer": run.optimizer.state_dict(),
               "scheduler": run.scheduler.state_dict(), "history": p.history, "best": p.best,
               "best_model": p.best_state, "stale": p.stale, "micro_batch": p.micro_batch,
               "rng": rng[0], "sampler_rng": run.engine.sampler_generator.get_state(),
               "method": run.method.state_dict()}
    if len(rng) > 1:
        payload["rng_by_rank"] = rng
    if run.scaler is not None:
        payload["grad_scaler"] = run.scaler.state_dict()
    atomic_write(run_dir / CHECKPOINT_FILE, lambda tmp: torch.save(payload, tmp))
    record.update(checkpoint_epoch=epoch, history=p.history)  # the GUI redraws the curves from it on resume
    runs.write_record(run_dir, record)


def read_checkpoint(checkpoint: Path) -> dict:
    try:
        return torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint gets the same clear message
        raise TransferLabError(f"The checkpoint {checkpoint} cannot be read ({str(exc).splitlines()[0]}); "
                               "start the run again instead.") from exc


def restore(run: Run, state: dict) -> tuple[LoopState, int]:
    """Put a run built for the checkpoint's epoch back into its state at the end of that epoch;
    returns the loop's state and the epoch to continue with."""
    run.net.load_state_dict(state["model"], strict=False)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if run.scaler is not None and "grad_scaler" in state:
        run.scaler.load_state_dict(state["grad_scaler"])
    run.method.load_state_dict(state.get("method") or {})
    rank, world = distributed.shard()
    by_rank = state.get("rng_by_rank") or [state["rng"]]
    runs.restore_rng(by_rank[rank] if len(by_rank) == world else state["rng"])  # else: augmentation draws differ
    run.engine.sampler_generator.set_state(state["sampler_rng"])
    loop = LoopState(list(state["history"]), dict(state["best"]), state["best_model"], int(state["stale"]),
                     state.get("micro_batch"))
    return loop, int(state["epoch"]) + 1
