"""Tolerances derived from the precision a run's training steps computed in (core.models.accel's rule:
mixed precision only in fine-tuning steps; features, validation and predictions always in fp32)."""

import json
from pathlib import Path

BF16_EPS = 2.0 ** -8  # bf16 keeps 8 significant bits


def run_precision(run_dir: Path) -> str:
    """The precision a finished run's training steps used, from its bundle."""
    return json.loads((Path(run_dir) / "transferlab.json").read_text())["compute"]["precision"]


def tolerance(precision: str, fp32: float) -> float:
    """``fp32`` where the runs compared computed in fp32 throughout. Where fine-tuning steps ran in
    bf16, two tiny runs that differ only in rounding were measured to drift apart by up to 1 eps in
    losses and probabilities (boundary-cache and decoded-image engines against the plain path, 2
    epochs, 3 seeds: 3.7e-3 at most), so 4 eps."""
    return fp32 if precision == "fp32" else max(fp32, 4 * BF16_EPS)
