"""Temperature scaling (Guo et al. 2017): one number T that makes the softmax's confidence honest.

Fitted on the validation split after training by minimising the negative log-likelihood of
``softmax(logits / T)``; T > 1 softens over-confident predictions. It never changes which class
is predicted, only how sure the model says it is. Stored in the model bundle and applied by
predict, evaluate and the exported models.
"""

from __future__ import annotations

import math

import torch

from core.metrics import expected_calibration_error

MIN_IMAGES = 10  # fewer validation images than this: T stays 1 (too little evidence)
T_RANGE = (0.05, 20.0)


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    return torch.nn.functional.cross_entropy(logits.double() / temperature, labels).item()


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, iterations: int = 60) -> float:
    """The T in ``T_RANGE`` with the lowest NLL: golden-section search on log T (the NLL is convex in
    1/T, so it has a single minimum along log T)."""
    if len(labels) < MIN_IMAGES:
        return 1.0
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(logits, labels, math.exp(a)), nll(logits, labels, math.exp(b))
    for _ in range(iterations):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(logits, labels, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(logits, labels, math.exp(b))
    return float(math.exp((lo + hi) / 2))


def calibration_report(logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """Fit T and say what it changed: expected calibration error and NLL before and after."""
    temperature = fit_temperature(logits, labels)

    def ece(t: float) -> float:
        probs = (logits.double() / t).softmax(1)
        confidence, predicted = probs.max(1)
        return expected_calibration_error(confidence.tolist(), (predicted == labels).tolist())

    return {"temperature": temperature, "images": int(len(labels)),
            "ece_before": ece(1.0), "ece_after": ece(temperature),
            "nll_before": nll(logits, labels, 1.0) if len(labels) else float("nan"),
            "nll_after": nll(logits, labels, temperature) if len(labels) else float("nan"),
            "fitted": len(labels) >= MIN_IMAGES}
