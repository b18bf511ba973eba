"""What a training run hands back (no torch here: Auto's plan and the window use it before torch loads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_val_accuracy: float
    best_val_loss: float
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    cancelled: bool = False  # Cancel (or Quit, or Ctrl-C) stopped it: the best epoch so far is the model

    @classmethod
    def of_saved_run(cls, run_dir: Path) -> TrainResult:
        """The result of a run that saved a model (finished, or stopped by Cancel), read from its bundle."""
        from core.models.bundle import read_meta  # torch: only when a saved run is opened
        meta = read_meta(Path(run_dir))
        metrics, stopped = meta["metrics"], bool(meta.get("stopped"))
        return cls(Path(run_dir), metrics["best_epoch"], metrics["val_accuracy"], metrics["val_loss"],
                   metrics["history"], stopped_early=stopped, cancelled=stopped)
