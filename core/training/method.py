"""What a training method adds to the one training loop (core.training.trainer).

Plain transfer learning adds nothing: that is this base class. A method such as domain-adversarial
training (core.methods.domain_adaptation) overrides the hooks it needs, and the loop's own machinery
(epochs and stages, validation, keeping the best epoch, early stopping, the out-of-memory retry,
Cancel, checkpoints and resume, the bundle) works for it unchanged:

* ``attach``: extra modules trained with the network, as optimiser parameter groups (the optimiser is
  built after freezing, with these groups in it, so resuming restores their state too);
* ``start_epoch`` and ``before_step``: per-epoch and per-step state (a schedule, a second data stream);
* ``forward``: the logits of a (micro-)batch and an extra loss added to the objective;
* ``epoch_extras`` and ``epoch_status``: what an epoch adds to the history and tells the user;
* ``state_dict`` / ``load_state_dict``: the method's own state in the checkpoint;
* ``record`` and ``bundle_meta``: what run.json and the saved model say about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

    from core.base.cancel import CancelToken
    from core.models.accel import ComputePlan
    from core.models.network import TransferNet
    from core.models.preprocess import Preprocessing
    from core.training.events import TrainCallback
    from core.training.settings import TrainSettings


class TrainingMethod:
    """Plain transfer learning: the network's logits, the classification loss, nothing else."""

    name = ""  # recorded in run.json and the bundle when not empty
    keep_last_epoch = False  # True: every finished epoch replaces the kept model (the last one is saved)

    def attach(self, net: TransferNet, pp: Preprocessing, settings: TrainSettings, plan: ComputePlan,
               cb: TrainCallback, cancel: CancelToken | None) -> None:
        """Called once the network is frozen as the run needs and before the optimiser is built."""

    def param_groups(self, settings: TrainSettings) -> list[dict]:
        """Extra optimiser parameter groups (each a dict with "params", "lr", "weight_decay", "name")."""
        return []

    def description(self) -> str:
        """Added to the "Speed:" line the user sees when training starts."""
        return ""

    def start_epoch(self, epoch: int) -> None:
        """Before the epoch's first batch."""

    def before_step(self, epoch: int, batch: int, batches: int) -> None:
        """Before the optimiser step on training batch ``batch`` (1-based) of ``batches``."""

    def forward(self, module: nn.Module, x: torch.Tensor, part: int, parts: int) -> tuple[torch.Tensor,
                                                                                          torch.Tensor | None]:
        """Logits of micro-batch ``part`` (0-based) of ``parts`` and an extra loss for it (None: none)."""
        return module(x), None

    def epoch_extras(self) -> dict:
        """Added to the epoch's entry in the history."""
        return {}

    def epoch_status(self, epoch: int) -> str | None:
        """A sentence for the user once the epoch has ended."""
        return None

    def state_dict(self) -> dict:
        """The method's state at the end of an epoch, for the checkpoint (tensors and plain data)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Put back what :meth:`state_dict` returned (resuming)."""

    def record(self) -> dict:
        """Added to run.json when the run starts (core.methods.resume rebuilds the method from it)."""
        return {}

    def bundle_meta(self, history: list[dict]) -> dict:
        """Added to the saved model's description."""
        return {}
