"""What domain adaptation is asked to do: the folder of unlabeled images from the new setting, an
optional labelled folder of it, and the strength. No torch here (the window holds one from the start)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Adaptation:
    """Domain adaptation to a new setting (core.methods.domain_adaptation, DANN), as the user chose it."""

    target: str  # folder of unlabeled images from the new setting
    test: str | None = None  # optional labelled folder of the new setting, to report accuracy there
    weight: float = 1.0  # strength of the domain-adversarial signal

    def problem(self) -> str | None:
        """Why this cannot be used, in words for the user; None when fine."""
        if not self.target:
            return "Choose the folder of unlabeled images from the new setting (or untick domain adaptation)."
        for folder, what in ((self.target, "unlabeled images"), (self.test, "labelled test images")):
            if folder and not Path(folder).is_dir():
                return f"The folder of {what} does not exist: {folder}"
        return None

    def describe(self) -> str:
        test = f", tested on {Path(self.test).name}" if self.test else ""
        return f"adapting to the unlabeled images in {Path(self.target).name}{test} (DANN, strength {self.weight:g})"
