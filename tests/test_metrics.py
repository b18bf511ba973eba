"""Metrics and calibration against values computed by hand on tiny fixed examples."""

import pytest
import torch

from core.calibration import calibration_report, fit_temperature
from core.metrics import at_threshold, auc, classification_report, expected_calibration_error, roc_curve


def test_per_class_metrics_accuracy_and_balanced_accuracy():
    r = classification_report([0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2], ["a", "b", "c"])
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert r["per_class"]["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert r["per_class"]["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert r["per_class"]["c"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert r["accuracy"] == pytest.approx(5 / 7)
    assert r["balanced_accuracy"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)


def test_a_class_never_predicted_has_zero_precision_not_a_crash():
    r = classification_report([0, 1], [0, 0], ["a", "b"])
    assert r["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_roc_curve_and_auc():
    roc = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert roc["fpr"] == [0.0, 0.0, 0.5, 0.5, 1.0] and roc["tpr"] == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert roc["thresholds"][1:] == [0.8, 0.4, 0.35, 0.1]
    assert roc["auc"] == pytest.approx(0.75)
    assert roc_curve([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])["auc"] == pytest.approx(0.5)  # ties: one step
    assert auc([0, 1], [1, 1]) == 1.0


def test_moving_the_threshold():
    r = at_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.375, ["neg", "pos"])
    assert r["confusion_matrix"] == [[1, 1], [1, 1]] and r["accuracy"] == 0.5
    assert at_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.3, ["neg", "pos"])["per_class"]["pos"]["recall"] == 1


def test_expected_calibration_error():
    # bin (0.8, 0.9]: accuracy 0.5 at confidence 0.9; bin (0.5, 0.6]: accuracy 1.0 at 0.6 -> 0.5*0.4 + 0.5*0.4
    assert expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, False, True, True], bins=10) == \
        pytest.approx(0.4)
    assert expected_calibration_error([1.0, 1.0], [True, True]) == pytest.approx(0.0)


def test_temperature_scaling_recovers_a_known_temperature_and_lowers_the_error():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6000, 4, generator=g) * 4
    labels = torch.multinomial((logits / 2.0).softmax(1), 1, generator=g).squeeze(1)  # truly calibrated at T=2
    assert fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.08)
    report = calibration_report(logits, labels)
    assert report["fitted"] and report["ece_after"] < report["ece_before"] / 2
    assert report["nll_after"] < report["nll_before"]
    assert fit_temperature(logits[:5], labels[:5]) == 1.0  # too few images to fit anything


def test_a_small_perfectly_classified_validation_set_does_not_make_the_model_claim_certainty():
    logits = torch.tensor([[2.0, 0.0, 0.0]] * 15)  # right every time, but only 15 images of evidence
    labels = torch.zeros(15, dtype=torch.long)
    t = fit_temperature(logits, labels)
    assert 0.3 < t < 1.0  # sharpened a little, not driven to the bound (0.05 would mean ~100% everywhere)
