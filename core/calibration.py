"""Temperature scaling (Guo et al. 2017): one number T that makes the softmax's confidence honest.

Fitted on the validation split after training by minimising the negative log-likelihood of
``softmax(logits / T)`` (with a weak prior keeping T near 1 when there are few images); T > 1 softens
over-confident predictions, T < 1 sharpens timid ones. It never changes which class
is predicted, only how sure the model says it is. Stored in the model bundle and applied by
predict, evaluate and the exported models.
"""

from __future__ import annotations

import math

import torch

from core.metrics import expected_calibration_error

MIN_IMAGES = 10  # fewer validation images than this: T stays 1 (too little evidence)
T_RANGE = (0.05, 20.0)


PRIOR_SIGMA = 0.5  # of log T: a few validation images cannot push T far from 1; thousands can


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    return torch.nn.functional.cross_entropy(logits.double() / temperature, labels).item()


def _objective(logits: torch.Tensor, labels: torch.Tensor, log_t: float) -> float:
    """Total NLL plus a Gaussian prior on log T (a MAP estimate). Without the prior, a small validation
    set the model gets entirely right drives T towards 0: every later prediction would claim ~100%."""
    total = torch.nn.functional.cross_entropy(logits.double() / math.exp(log_t), labels, reduction="sum").item()
    return total + log_t ** 2 / (2 * PRIOR_SIGMA ** 2)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, iterations: int = 60) -> float:
    """The T in ``T_RANGE`` minimising :func:`_objective`: golden-section search on log T (the NLL is
    convex in 1/T and the prior convex in log T, so there is one minimum along log T)."""
    if len(labels) < MIN_IMAGES:
        return 1.0
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = _objective(logits, labels, a), _objective(logits, labels, b)
    for _ in range(iterations):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = _objective(logits, labels, a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = _objective(logits, labels, b)
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
