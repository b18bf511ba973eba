"""Turns the core trainer's callbacks into task events: small plain objects, throttled."""

import time

from app.tasks import TaskContext
from core.training.events import TrainCallback

BATCH_EVENT_INTERVAL_S = 0.1
SMOOTHING = 0.9


class _Forwarder(TrainCallback):
    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.smoothed: float | None = None
        self.last = 0.0

    def on_status(self, message: str) -> None:
        self.ctx.event(("status", message))

    def on_prepare(self, event) -> None:
        now = time.monotonic()
        if now - self.last >= BATCH_EVENT_INTERVAL_S or event.done >= event.total:
            self.last = now
            self.ctx.event(("prepare", event))

    def on_fit_start(self, event) -> None:
        self.ctx.event(("start", event))

    def on_batch_end(self, event) -> None:
        self.smoothed = event.loss if self.smoothed is None else SMOOTHING * self.smoothed + (1 - SMOOTHING) * event.loss
        now = time.monotonic()
        if now - self.last >= BATCH_EVENT_INTERVAL_S or event.batch == event.batches:
            self.last = now
            self.ctx.event(("batch", event, self.smoothed))

    def on_epoch_end(self, event) -> None:
        self.ctx.event(("epoch", event))


def training_job(scan, settings, run_dir):
    """A task function training ``settings`` on ``scan`` into ``run_dir`` (torch loads in the worker)."""
    def run(ctx: TaskContext):
        from core.training.trainer import train
        return train(scan, settings, run_dir, _Forwarder(ctx), ctx.cancel)
    return run


def adaptation_job(scan, settings, run_dir, adaptation):
    """Training that also adapts to unlabeled images of a new setting (core.methods.domain_adaptation, DANN)."""
    def run(ctx: TaskContext):
        from core.data.dataset import scan_dataset
        from core.methods.domain_adaptation import train_adapted
        test = scan_dataset(adaptation.test, cancel=ctx.cancel) if adaptation.test else None
        return train_adapted(scan, adaptation.target, settings, run_dir, _Forwarder(ctx), ctx.cancel,
                             target_test_scan=test, domain_weight=adaptation.weight)
    return run


def resume_job(run_dir):
    """A task function continuing the interrupted run in ``run_dir`` from its last checkpoint."""
    def run(ctx: TaskContext):
        from core.methods.resume import resume_run
        return resume_run(run_dir, _Forwarder(ctx), ctx.cancel)
    return run


class _CompareForwarder(_Forwarder):
    def on_candidate_start(self, index: int, total: int, label: str) -> None:
        self.smoothed = None
        self.ctx.event(("candidate", index, total, label))

    def on_candidate_end(self, row: dict) -> None:
        self.ctx.event(("row", row))


def comparison_job(scan, candidates, out_dir):
    """A task function training each candidate of a comparison on the same split (core.methods.compare)."""
    def run(ctx: TaskContext):
        from core.methods.compare import compare
        return compare(scan, candidates, out_dir, _CompareForwarder(ctx), ctx.cancel)
    return run


def auto_job(scan, auto_plan, run_dir):
    """A task function running Auto's plan (core.methods.auto_search): candidates in order, the best kept."""
    def run(ctx: TaskContext):
        from core.methods.auto_search import run_auto
        return run_auto(scan, auto_plan, run_dir, _CompareForwarder(ctx), ctx.cancel)
    return run
