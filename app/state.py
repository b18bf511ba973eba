"""What the wizard has gathered so far. Plain Python: no Qt, no tensors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.settings import TrainSettings

if TYPE_CHECKING:  # torch-heavy modules; the window must appear before torch is imported
    from core.advisor import Suggestion
    from core.dataset import DatasetScan
    from core.trainer import TrainResult


@dataclass
class WizardState:
    scan: DatasetScan | None = None
    settings: TrainSettings = field(default_factory=TrainSettings)
    suggestion: Suggestion | None = None
    suggestion_key: tuple | None = None  # (dataset root, model, weights file) the suggestion was made for
    result: TrainResult | None = None
    evaluation: dict | None = None
    devices: list[str] | None = None  # compute devices on this machine, once torch has loaded

    @property
    def run_dir(self) -> Path | None:
        return self.result.run_dir if self.result else None

    def advice_key(self) -> tuple:
        root = str(self.scan.root) if self.scan else None
        return (root, self.settings.model_name, self.settings.weights_file, self.settings.val_fraction,
                self.settings.seed)
