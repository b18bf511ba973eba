"""Metrics and calibration against values computed by hand on tiny fixed examples."""

import pytest
import torch

from core.evaluation.calibration import calibration_report, calibration_sentence, fit_temperature
from core.evaluation.metrics import (accuracy_words, at_threshold, auc, baseline_words, classification_report,
                                     expected_calibration_error, roc_curve, wilson_interval)


def test_per_class_metrics_accuracy_and_balanced_accuracy():
    r = classification_report([0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2], ["a", "b", "c"])
    assert r.confusion_matrix == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert r.per_class["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert r.per_class["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert r.per_class["c"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert r.accuracy == pytest.approx(5 / 7)
    assert r.balanced_accuracy == pytest.approx((0.5 + 1 + 2 / 3) / 3)


def test_a_class_never_predicted_has_zero_precision_not_a_crash():
    r = classification_report([0, 1], [0, 0], ["a", "b"])
    assert r.per_class["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_roc_curve_and_auc():
    roc = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert roc["fpr"] == [0.0, 0.0, 0.5, 0.5, 1.0] and roc["tpr"] == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert roc["thresholds"][1:] == [0.8, 0.4, 0.35, 0.1]
    assert roc["auc"] == pytest.approx(0.75)
    assert roc_curve([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])["auc"] == pytest.approx(0.5)  # ties: one step
    assert auc([0, 1], [1, 1]) == 1.0


def test_moving_the_threshold():
    r = at_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.375, ["neg", "pos"])
    assert r.confusion_matrix == [[1, 1], [1, 1]] and r.accuracy == 0.5
    assert at_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.3, ["neg", "pos"]).per_class["pos"]["recall"] == 1


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


def test_calibration_is_applied_only_when_it_helps_on_images_it_was_not_fitted_on():
    """Logits that are already honest (labels drawn from their own softmax): fitting T on 40 images
    often "improves" those same images; measured on held-out folds it mostly does not, and then T stays 1."""
    applied = 0
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(40, 3, generator=g) * 2
        labels = torch.multinomial(logits.softmax(1), 1, generator=g).squeeze(1)
        report = calibration_report(logits, labels)
        assert "cross-validated" in report["measured"]
        if report["applied"]:
            applied += 1
            assert report["nll_after"] < report["nll_before"] and report["ece_after"] <= report["ece_before"]
        else:
            assert report["temperature"] == 1.0
            assert "did not make" in report["reason"] or "already about right" in report["reason"]
            assert "left as the model gives them" in calibration_sentence(report)
    assert applied < 10  # the held-out check refuses most fits that only look good in-sample


def test_a_small_accuracy_carries_its_wilson_interval_and_the_majority_baseline():
    report = classification_report([0] * 24 + [1] * 10, [0] * 24 + [1] * 4 + [0] * 6, ["functional", "defect"])
    lo, hi = report.accuracy_interval
    assert report.accuracy == pytest.approx(28 / 34)
    assert (lo, hi) == (pytest.approx(0.6649, abs=1e-4), pytest.approx(0.9165, abs=1e-4))  # by hand
    assert report.majority_baseline == {"class": "functional", "accuracy": pytest.approx(24 / 34)}
    assert accuracy_words(report) == "82.4% (95% interval 66–92% on 34 images)"
    assert "most common class (“functional”) would score 71%" in baseline_words(report)
    balanced = classification_report([0] * 5 + [1] * 5 + [2] * 5, [0] * 15, ["brick", "grass", "gravel"])
    assert baseline_words(balanced).startswith("guessing would score 33% (every class has 5 of these images")
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0


def test_a_large_remaining_calibration_gap_is_called_rough():
    """A walkthrough read "calibrated … went from 46.9% to 26.3%" as trustworthy percentages."""
    calibrated = {"images": 40, "applied": True, "temperature": 1.4, "ece_before": 0.469, "ece_after": 0.263}
    assert "Even so, a gap of 26% is large: read the percentages as rough" in calibration_sentence(calibrated)
    assert "as sure as it is right" not in calibration_sentence(calibrated)  # it is not, said just after
    assert "rough" not in calibration_sentence({**calibrated, "ece_after": 0.04})
    left = {"images": 40, "applied": False, "reason": "it did not help", "ece_before": 0.2}
    assert "left as the model gives them" in calibration_sentence(left) and "rough" in calibration_sentence(left)


def test_calibration_is_not_applied_on_too_few_validation_images():
    """A walkthrough saw a temperature applied on 23 images for a 40% -> 38% change: noise, not evidence."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (25,), generator=g)
    logits = torch.nn.functional.one_hot(labels, 3).float() * 6 - 2  # very overconfident: T > 1 would help
    logits[:8] = logits[:8].roll(1, dims=1)  # 8 of 25 wrong, at the same confidence
    report = calibration_report(logits, labels)
    assert not report["applied"] and report["temperature"] == 1.0 and "too few" in report["reason"]
    many = calibration_report(logits.repeat(2, 1), labels.repeat(2))
    assert many["applied"] and many["temperature"] > 1.0


def test_the_calibration_sentence_says_what_the_temperature_does():
    from core.evaluation.calibration import calibration_sentence
    text = calibration_sentence({"images": 50, "applied": True, "temperature": 0.85, "ece_before": 0.11,
                                 "ece_after": 0.05})
    assert "divided by 0.85 (its “temperature”) before they become probabilities" in text and "11.0% to 5.0%" in text
