"""One optimiser step of the training loop: on one process or one rank of several, in micro-batches
after a graphics card ran out of memory, with a training method's extra loss (core.training.method)."""

from __future__ import annotations

import torch
from torch import nn

from core.base.errors import TransferLabError
from core.training import distributed
from core.training.events import TrainCallback
from core.training.run_setup import Run

OOM_SPLIT_DEVICES = ("cuda", "mps")  # where an out-of-memory step is retried with half-size micro-batches


def step_with_retry(run: Run, state, x: torch.Tensor, y: torch.Tensor,
                    cb: TrainCallback) -> tuple[float, int, int]:
    """One optimiser step; on a GPU out of memory, retried in half-size micro-batches (and kept so in
    ``state.micro_batch``). Returns the (global) batch's loss, how many it got right and its size."""
    while True:
        try:
            if distributed.current() is not None:
                return distributed_step(run, x, y, state.micro_batch or len(y))
            return (*train_step(run, x, y, state.micro_batch or len(y)), len(y))
        except (torch.OutOfMemoryError, RuntimeError, MemoryError) as exc:
            if not is_oom(exc):
                raise
            run.optimizer.zero_grad(set_to_none=True)
            size = state.micro_batch or len(y)
            if run.plan.device.type not in OOM_SPLIT_DEVICES or size <= 1:
                raise TransferLabError(
                    f"Not enough memory to train with batches of {size} images on {run.device_name}. Try a smaller "
                    "batch size, a smaller image size or a smaller model, or close other programs.") from exc
            free_device_memory(run.plan.device)
            state.micro_batch = max(1, size // 2)
            cb.on_status(f"Out of memory on {run.device_name} with {size} images at once: continuing with "
                         f"{state.micro_batch} at a time (same batch size for the optimiser).")


def train_step(run: Run, x: torch.Tensor, y: torch.Tensor, micro: int | None = None) -> tuple[float, int]:
    """One optimiser and schedule step on a batch, in micro-batches of ``micro`` images (gradients
    accumulated). Returns the batch's loss (without the L2-SP penalty or a method's extra loss) and
    how many it got right."""
    return optimise(run, run.engine.module, x, y, micro or len(y),
                    lambda logits, ys: run.loss_fn(logits, ys) * (len(ys) / len(y)))


def distributed_step(run: Run, x: torch.Tensor, y: torch.Tensor, micro: int) -> tuple[float, int, int]:
    """:func:`train_step` on this rank's slice of a global batch. Each rank's loss is its slice's sum
    of (class-weighted) losses over the global batch's weight total, times the number of ranks: DDP's
    gradient average then is the single-process gradient. Returns the global loss, correct and size."""
    weight, world = run.loss_fn.weight, distributed.shard()[1]
    local_denominator = float(len(y)) if weight is None else float(weight[y].sum())
    denominator, count = distributed.step_totals(local_denominator, len(y))
    loss_total, correct = optimise(
        run, run.train_module, x, y, micro,
        lambda logits, ys: nn.functional.cross_entropy(logits, ys, weight=weight, reduction="sum",
                                                       label_smoothing=run.loss_fn.label_smoothing)
        * (world / denominator))
    loss_sum, correct_sum = distributed.all_sum([loss_total, float(correct)])
    return loss_sum / world, int(correct_sum), count


def optimise(run: Run, module: nn.Module, x: torch.Tensor, y: torch.Tensor, micro: int, loss_of) -> tuple[float, int]:
    """Gradients of ``loss_of(logits, labels)`` (plus the L2-SP penalty and the method's extra loss)
    accumulated over micro-batches, then one optimiser and schedule step. Returns the summed loss and
    how many were right."""
    run.optimizer.zero_grad(set_to_none=True)
    loss_total, correct = 0.0, 0
    parts = list(zip(x.split(micro), y.split(micro)))
    for k, (xs, ys) in enumerate(parts):
        share = len(ys) / len(y)
        with run.engine.plan.autocast():
            logits, extra = run.method.forward(module, xs, k, len(parts))
            loss = loss_of(logits.float(), ys)
        objective = loss if extra is None else loss + extra.float() * share
        if run.regularizer is not None:
            objective = objective + run.regularizer.penalty() * share
        if run.scaler is not None:
            run.scaler.scale(objective).backward()
        else:
            objective.backward()
        loss_total += loss.item()
        correct += (logits.argmax(1) == ys).sum().item()
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    run.scheduler.step()
    return loss_total, correct


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower() or \
        "can't allocate memory" in str(exc).lower()


def free_device_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
