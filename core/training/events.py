"""Training events: small plain objects (no tensors), safe to hand to any thread or serialise."""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FitStart:
    epochs: int
    batches_per_epoch: int
    train_images: int
    val_images: int
    device: str
    trainable_params: int
    total_params: int
    weights_source: str
    engine: str = ""  # how batches are made: caches and speed-ups in use, in plain words
    precision: str = "fp32"
    first_epoch: int = 1  # a resumed run's first epoch is the one after its checkpoint
    head_epochs: int = 0  # a two-stage run's quick first stage (only the new classifier trains); 0 for one stage


@dataclass(frozen=True)
class Prepare:
    """Work done once before the first epoch (decoding, computing cached features), or after the last (finishing
    the model: ``total`` 0, a step without a count)."""

    stage: str  # what is being done, in plain words
    done: int
    total: int
    detail: str = ""  # what the stage is made of, for a log line (a progress bar shows the stage alone)

    def words(self) -> str:
        """The stage with its detail: "Finishing the model (checking its probabilities, …)"."""
        return f"{self.stage} ({self.detail})" if self.detail else self.stage


@dataclass(frozen=True)
class BatchEnd:
    epoch: int  # 1-based
    batch: int  # 1-based
    batches: int
    loss: float
    accuracy: float
    images_per_s: float
    lr: float


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    eta_s: float
    is_best: bool

    def to_dict(self) -> dict:
        return asdict(self)


class TrainCallback:
    """Override what you need (fastai-style named events). Called on the training thread."""

    def on_status(self, message: str) -> None: ...

    def on_prepare(self, event: Prepare) -> None: ...

    def on_fit_start(self, event: FitStart) -> None: ...

    def on_batch_end(self, event: BatchEnd) -> None: ...

    def on_epoch_end(self, event: EpochEnd) -> None: ...
