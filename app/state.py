"""What the wizard has gathered so far. Plain Python: no Qt, no tensors."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.methods.adaptation import Adaptation
from core.training.settings import TrainSettings

if TYPE_CHECKING:  # torch-heavy modules; the window must appear before torch is imported
    from core.data.dataset import DatasetScan
    from core.evaluation.predict import Evaluation
    from core.methods.advisor import Suggestion
    from core.training.result import TrainResult


@dataclass
class WizardState:
    scan: DatasetScan | None = None
    settings: TrainSettings = field(default_factory=TrainSettings)
    suggestion: Suggestion | None = None
    suggestion_key: tuple | None = None  # (dataset root, model, weights file) the suggestion was made for
    result: TrainResult | None = None
    evaluation: Evaluation | None = None
    adaptation: Adaptation | None = None  # train with unlabeled images of a new setting (DANN)
    devices: list[str] | None = None  # compute devices on this machine, once torch has loaded
    auto_budget: str | None = "balanced"  # Auto's budget (core.methods.auto_search); None: by hand
    result_key: tuple | None = None  # training_key() when ``result`` was trained or opened
    before_relabel: dict | None = None  # {run_dir, accuracy}: the model trained before labels were corrected

    @property
    def run_dir(self) -> Path | None:
        return self.result.run_dir if self.result else None

    def training_key(self) -> tuple:
        """What a run depends on: the data, the settings (not the device), Auto's budget, the adaptation."""
        scan = (str(self.scan.root), tuple(self.scan.classes), len(self.scan.all_items()),
                (self.scan.label_sheet or {}).get("sha256")) if self.scan else None  # corrected labels: another run
        settings = {k: v for k, v in self.settings.to_dict().items() if k != "device"}
        return (scan, repr(sorted(settings.items())), self.auto_budget, repr(self.adaptation))

    def take_run_settings(self, settings: dict, auto: dict | None) -> None:
        """Show a run's own settings (opened or resumed): its training settings (this computer's device kept) and
        Auto as it was; a run trained by hand (``auto`` None) has Auto off."""
        self.settings = replace(TrainSettings.from_dict(settings), device=self.settings.device)
        self.auto_budget = (auto or {}).get("budget")

    def result_is_stale(self) -> bool:
        """True when the data or settings changed since ``result`` was trained (or opened)."""
        return self.result is not None and self.result_key is not None and self.result_key != self.training_key()

    def relabelled(self, scan: DatasetScan) -> None:
        """``scan``, read again with corrected or new labels, replaces the current one; the model shown now is kept
        as the one before them (Results compares the next run with it)."""
        self.before_relabel = {"run_dir": str(self.run_dir), "accuracy": getattr(self.evaluation, "accuracy", None),
                               "root": str(scan.root), "classes": list(scan.classes)}
        self.scan = scan

    def forget_foreign_relabel(self) -> None:
        """Forget "the model before the corrections" once another folder (or other classes) is trained: scoring it
        on today's images would evaluate an earlier folder's model against this data (a walkthrough saw "Classes
        not known to this model" on Results after a run on another folder)."""
        before, scan = self.before_relabel, self.scan
        if before and (scan is None or before.get("root") != str(scan.root) or
                       before.get("classes") != list(scan.classes)):
            self.before_relabel = None

    def advice_key(self) -> tuple:
        root = str(self.scan.root) if self.scan else None
        return (root, self.settings.model_name, self.settings.weights_file, self.settings.val_fraction,
                self.settings.seed)
