"""Resuming any interrupted run: the run's record names the training method it was started with
(core.training.method), and that method is rebuilt before the one training loop continues."""

from __future__ import annotations

from pathlib import Path

from core.base.cancel import CancelToken
from core.data.label_sheet import check_resumed_sheet
from core.methods.domain_adaptation import METHOD as DANN
from core.methods.domain_adaptation import resume_adapted
from core.training import runs
from core.training.events import TrainCallback
from core.training.result import TrainResult
from core.training.trainer import resume_training


def resume_run(run_dir: Path, callback: TrainCallback | None = None,
               cancel: CancelToken | None = None) -> TrainResult:
    """Continue the run in ``run_dir`` from its last checkpoint, whatever method it trains with, on the labels it
    started with (refused when its label sheet has changed them since: core.data.label_sheet.check_resumed_sheet)."""
    record = runs.read_record(Path(run_dir))
    note = check_resumed_sheet(record)  # labels changed since it started: refused, with the way out
    if note and callback is not None:
        callback.on_status(note)
    if record.get("method") == DANN or record.get("adaptation"):  # older DANN records name no method
        return resume_adapted(run_dir, callback, cancel)
    return resume_training(run_dir, callback, cancel)
