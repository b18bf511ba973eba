"""The four-quadrant advisor: the rule itself, and measurements on real images with real weights."""

import pytest
import torch

from core.advisor import (SMALL_MAX_PER_CLASS, Measurements, advise, decide, loo_nearest_mean_accuracy)
from core.dataset import make_split, scan_dataset
from core.settings import TrainSettings
from tests.datagen import make_class_folder


SIMILAR = dict(confidence=0.35, shift=0.17)  # colour photo crops, as measured (core.quadrants)
DIFFERENT = dict(confidence=0.20, shift=0.32)  # printed glyphs


def measurements(per_class: float, confidence: float = 0.35, shift: float | None = 0.17, final: float = 0.9,
                 early: float = 0.8) -> Measurements:
    return Measurements(num_classes=3, train_images=int(per_class * 3), median_per_class=per_class, sample_size=60,
                        final_separability=final, early_separability=early, early_level=3,
                        early_level_name="blocks.4", imagenet_confidence=confidence, chance=1 / 3,
                        imagenet_shift=shift)


@pytest.mark.parametrize("per_class, signals, strategy", [
    (20, SIMILAR, "feature-extraction"),  # small + similar
    (20, DIFFERENT, "truncated"),  # small + different
    (SMALL_MAX_PER_CLASS + 50, SIMILAR, "fine-tune-top"),  # large + similar
    (SMALL_MAX_PER_CLASS + 50, DIFFERENT, "fine-tune-all"),  # large + different
])
def test_four_quadrants(per_class, signals, strategy):
    s = decide(measurements(per_class, **signals), num_groups=8, default_cut=3)
    assert s.strategy == strategy
    text = " ".join(s.rationale)
    assert f"{signals['shift']:.2f}" in text and f"{100 * signals['confidence']:.0f}%" in text
    assert "90%" in text and "80%" in text and f"{per_class:.0f}" in text  # separabilities, reported
    if strategy == "truncated":
        assert s.cut_index == 3 and s.freeze_depth == 0
    if strategy == "fine-tune-top":
        assert 0 < s.freeze_depth < 8 and s.backbone_lr < s.head_lr
    if strategy == "fine-tune-all":
        assert s.freeze_depth == 8 and s.backbone_lr < s.head_lr
    if strategy == "feature-extraction":
        assert s.freeze_depth == 0 and s.cut_index is None


@pytest.mark.parametrize("confidence, shift, similar", [
    (0.35, 0.17, True), (0.24, 0.165, True),  # colour photo crops
    (0.47, 0.255, False),  # grayscale texture close-ups: the network's statistics say different
    (0.15, 0.19, False),  # the ImageNet classifier sees nothing it knows (handwriting in the issue: 0.15)
    (0.15, None, False), (0.30, None, True),  # no BatchNorm layers: confidence alone
])
def test_similarity_needs_both_signals(confidence, shift, similar):
    m = measurements(20, confidence, shift)
    assert m.similar is similar and (m.similarity >= 0) is similar
    assert decide(m, 8, 3).similarity == ("similar" if similar else "different")


def test_small_and_different_without_a_cut_point_falls_back_to_feature_extraction():
    s = decide(measurements(20, **DIFFERENT), num_groups=8, default_cut=None)
    assert s.strategy == "feature-extraction"
    assert "cannot be cut" in " ".join(s.rationale)


def test_separability_score_tells_separable_from_random_features():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(20)
    separable = torch.randn(60, 16, generator=g) + torch.nn.functional.one_hot(labels, 16) * 6
    random = torch.randn(60, 16, generator=g)
    assert loo_nearest_mean_accuracy(separable, labels) > 0.95
    assert loo_nearest_mean_accuracy(random, labels) < 0.6


def test_advise_measures_real_images_with_offline_pretrained_weights(tmp_path):
    root = make_class_folder(tmp_path / "data", ["circles", "squares", "stripes"], per_class=8, size=64)
    suggestion = advise(scan_dataset(root), TrainSettings(image_size=96))
    m = suggestion.measurements
    assert suggestion.size == "small" and m.median_per_class < SMALL_MAX_PER_CLASS
    assert m.sample_size == len(make_split(scan_dataset(root)).train) == 18
    assert len(suggestion.extra["layer_groups"]) == suggestion.num_groups == 8
    assert m.final_separability > m.chance and 0 < m.imagenet_confidence <= 1 and 0 < m.imagenet_shift < 5
    assert suggestion.strategy == ("feature-extraction" if m.similar else "truncated")
    assert suggestion.to_dict()["title"]
    settings = suggestion.apply(TrainSettings())
    assert settings.strategy == suggestion.strategy and settings.freeze_depth == suggestion.freeze_depth


def test_small_and_different_data_cuts_where_the_layer_probe_is_best(tmp_path):
    from core.advisor import probe_for, use_probe
    root = make_class_folder(tmp_path / "data", ["circles", "squares"], per_class=8, size=48)
    settings = TrainSettings(image_size=64)
    suggestion = decide(measurements(20, **DIFFERENT), num_groups=8, default_cut=3)
    probe = probe_for(scan_dataset(root), settings)
    use_probe(suggestion, probe)
    assert probe.best_index is not None and suggestion.cut_index == probe.best_index
    accuracies = [level["accuracy"] for level in probe.levels]
    assert accuracies[probe.best_index] == max(accuracies[:-1])  # the best level below the top one
    assert suggestion.extra["probe"]["levels"] == probe.levels
    assert any(line.startswith("Probing every layer") for line in suggestion.rationale)
    assert suggestion.apply(settings).cut_index == probe.best_index
    similar = decide(measurements(20, **SIMILAR), num_groups=8, default_cut=3)
    use_probe(similar, probe)  # shown, but feature extraction does not cut
    assert similar.cut_index is None and "probe" in similar.extra


def test_fine_tuning_starts_two_stage_and_small_data_gets_l2sp():
    from dataclasses import replace

    from core.settings import DEFAULT_L2SP, consistent, with_strategy
    small = with_strategy(TrainSettings(), "fine-tune-top", 8, 3, small=True)
    large = with_strategy(TrainSettings(), "fine-tune-all", 8, 3, small=False)
    assert (small.two_stage, small.l2sp_alpha) == (True, DEFAULT_L2SP) and (large.two_stage, large.l2sp_alpha) == (
        True, 0.0)
    back = with_strategy(small, "feature-extraction", 8, 3)
    assert (back.two_stage, back.l2sp_alpha) == (False, 0.0)
    back.validate()
    for changed in (replace(small, epochs=1), replace(small, freeze_depth=0), replace(small, weights="none")):
        fixed = consistent(changed)
        assert not fixed.two_stage and (fixed.l2sp_alpha == 0 or fixed.freeze_depth > 0 and fixed.pretrained)
        fixed.validate()
    s = decide(measurements(SMALL_MAX_PER_CLASS + 50, **SIMILAR), num_groups=8, default_cut=3)
    assert s.apply(TrainSettings()).two_stage and "two-stage" in s.rationale[-1]


def test_random_weights_are_advised_to_train_every_layer(tmp_path):
    root = make_class_folder(tmp_path / "data", ["circles", "squares"], per_class=6, size=48)
    suggestion = advise(scan_dataset(root), TrainSettings(image_size=64, weights="none"))
    settings = suggestion.apply(TrainSettings(weights="none"))
    assert settings.strategy == "fine-tune-all" and settings.freeze_depth == suggestion.num_groups
    assert settings.backbone_lr == settings.head_lr and not settings.two_stage and settings.l2sp_alpha == 0
    settings.validate()
    assert "random weights" in suggestion.rationale[-1]
