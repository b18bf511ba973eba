"""Temperature scaling (Guo et al. 2017): one number T that makes the softmax's confidence honest.

Fitted on the validation split after training by minimising the negative log-likelihood of
``softmax(logits / T)`` (with a weak prior keeping T near 1 when there are few images), and applied
only when cross-validation on those images shows it helps; T > 1 softens
over-confident predictions, T < 1 sharpens timid ones. It never changes which class
is predicted, only how sure the model says it is. Stored in the model bundle and applied by
predict, evaluate and the exported models.
"""

from __future__ import annotations

import math

import torch

from core.evaluation.metrics import expected_calibration_error

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


FOLDS = 5  # calibration's effect is measured on validation images its temperature was not fitted on
MIN_LOG_CHANGE = 0.02  # |log T| below this (T within 2% of 1) changes nothing worth applying
ROUGH_GAP = 0.10  # an expected calibration error above this makes confidences a rough guide only
MIN_APPLY = 30  # fewer validation images than this: a fitted T is not applied (a walkthrough saw T applied on 23
# images for a 40% -> 38% change: noise, not evidence)


def _ece(logits: torch.Tensor, labels: torch.Tensor, temperatures: torch.Tensor | float) -> float:
    probs = (logits.double() / temperatures).softmax(1)
    confidence, predicted = probs.max(1)
    return expected_calibration_error(confidence.tolist(), (predicted == labels).tolist())


def out_of_fold_temperatures(logits: torch.Tensor, labels: torch.Tensor, folds: int = FOLDS) -> torch.Tensor:
    """(n, 1): for each image, the temperature fitted on the other folds of the validation images."""
    n = len(labels)
    fold_of = torch.arange(n) % max(2, min(folds, n))
    fold_of = fold_of[torch.randperm(n, generator=torch.Generator().manual_seed(0))]
    temperatures = torch.ones(n, 1, dtype=torch.float64)
    for k in fold_of.unique().tolist():
        held_out = fold_of == k
        temperatures[held_out] = fit_temperature(logits[~held_out], labels[~held_out])
    return temperatures


def calibration_report(logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """Fit T on the validation images and measure, honestly, what it changes: each image's calibrated
    probabilities come from a T fitted on the *other* folds (cross-validation), so the error "after"
    is not measured on the images T was fitted on. T is applied only when that out-of-fold check shows
    it helps (lower log-loss, and an expected calibration error no higher); otherwise it stays 1 and
    the report says why ("applied" false, "reason")."""
    n = len(labels)
    base = {"images": int(n), "measured": f"cross-validated on the validation images ({min(FOLDS, n)} folds)",
            "ece_before": _ece(logits, labels, 1.0) if n else float("nan"),
            "nll_before": nll(logits, labels, 1.0) if n else float("nan")}
    if n < MIN_IMAGES:
        return {**base, "temperature": 1.0, "ece_after": base["ece_before"], "nll_after": base["nll_before"],
                "fitted": False, "applied": False, "reason": f"fewer than {MIN_IMAGES} validation images"}
    temperature = fit_temperature(logits, labels)
    held_out_t = out_of_fold_temperatures(logits, labels)
    ece_after = _ece(logits, labels, held_out_t)
    nll_after = torch.nn.functional.cross_entropy(logits.double() / held_out_t, labels).item()
    helps = nll_after < base["nll_before"] and ece_after <= base["ece_before"]
    needed = abs(math.log(temperature)) >= MIN_LOG_CHANGE
    enough = n >= MIN_APPLY
    reason = ("" if helps and needed and enough else f"{n} validation images are too few to tell whether it helps; "
              f"it needs {MIN_APPLY}" if not enough else "it did not make the probabilities more honest on "
              "held-out validation images" if not helps else f"they are already about right: the best softening "
              f"factor was {temperature:.2f}, next to no change")
    helps = helps and enough
    return {**base, "temperature": temperature if helps and needed else 1.0, "ece_after": ece_after,
            "nll_after": nll_after, "fitted": helps and needed, "applied": helps and needed, "reason": reason}


def calibration_sentence(calibration: dict) -> str:
    """What calibration did, in plain words (Results, report, command line)."""
    if not calibration or "images" not in calibration:
        return ""
    if calibration.get("applied", calibration.get("fitted")):
        text = (f"Probabilities are adjusted: the model's scores are divided by {calibration['temperature']:.2f} "
                "(its “temperature”) before they become probabilities, to bring how sure it says it is closer to "
                "how often it is right. On validation images that factor was not fitted on, the average gap between "
                "the two (expected calibration error) went from "
                f"{calibration['ece_before']:.1%} to {calibration['ece_after']:.1%}.")
        gap = calibration["ece_after"]
    else:
        reason = calibration.get("reason") or f"fewer than {MIN_IMAGES} validation images"
        text = f"Probabilities are left as the model gives them: calibrating was not applied ({reason})."
        gap = calibration.get("ece_before")
    if gap is not None and gap > ROUGH_GAP:
        text += (f" {'Even so, a' if calibration.get('applied') else 'A'} gap of {gap:.0%} is large: read the "
                 "percentages as rough, and judge the model by its accuracy instead.")
    return text
