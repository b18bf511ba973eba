"""The four-quadrant advisor: the rule itself, and measurements on real images with real weights."""

import pytest
import torch

from core.data.dataset import make_split, scan_dataset
from core.methods.advisor import SMALL_MAX_PER_CLASS, Measurements, advise, decide, loo_nearest_mean_accuracy
from core.training.settings import TrainSettings
from tests.datagen import make_class_folder

SIMILAR = dict(confidence=0.35, shift=0.17)  # colour photo crops, as measured (core.methods.quadrants)
DIFFERENT = dict(confidence=0.20, shift=0.32)  # printed glyphs


def measurements(per_class: float, confidence: float = 0.35, shift: float | None = 0.17, final: float = 0.9,
                 early: float = 0.8) -> Measurements:
    return Measurements(num_classes=3, train_images=int(per_class * 3), median_per_class=per_class, sample_size=60,
                        final_separability=final, early_separability=early, early_level=3,
                        early_level_name="blocks.4", imagenet_confidence=confidence, chance=1 / 3,
                        imagenet_shift=shift)


def test_the_baseline_named_for_unequal_classes():
    m = measurements(20)
    m = type(m)(**{**m.__dict__, "chance": 0.5})
    assert "always answering the most common class would score 50%" in " ".join(decide(m, 8, 3).rationale)


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
    assert "guessing would score 33% (the classes are the same size)" in text  # chance 1/3 of three classes
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
    from core.methods.advisor import probe_for, use_probe
    root = make_class_folder(tmp_path / "data", ["circles", "squares"], per_class=8, size=48)
    settings = TrainSettings(image_size=64)
    suggestion = decide(measurements(20, **DIFFERENT), num_groups=8, default_cut=3)
    probe = probe_for(scan_dataset(root), settings)
    use_probe(suggestion, probe)
    assert probe.best_index is not None and suggestion.cut_index == probe.best_index
    accuracies = [level["accuracy"] for level in probe.levels]
    assert accuracies[probe.best_index] == max(accuracies[:-1])  # the best level below the top one
    assert suggestion.extra["probe"]["levels"] == probe.levels
    assert any(line.startswith("Testing every layer") for line in suggestion.rationale)
    assert suggestion.apply(settings).cut_index == probe.best_index
    similar = decide(measurements(20, **SIMILAR), num_groups=8, default_cut=3)
    use_probe(similar, probe)  # shown, but feature extraction does not cut
    assert similar.cut_index is None and "probe" in similar.extra


def test_fine_tuning_starts_two_stage_and_small_data_gets_l2sp():
    from dataclasses import replace

    from core.training.settings import DEFAULT_L2SP, consistent, with_strategy
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


def test_a_strategy_chosen_over_the_suggestion_cuts_where_the_earlier_layer_was_measured():
    """The rule the Strategy page used to hold: the suggested strategy keeps the suggestion's own settings;
    another gets its defaults, and the earlier-layer strategy cuts where the earlier layer was measured."""
    s = decide(measurements(20, **SIMILAR), num_groups=8, default_cut=3)  # feature extraction, no cut
    base = TrainSettings()
    assert s.settings_for("feature-extraction", base) == s.apply(base)
    cut = s.settings_for("truncated", base)
    assert cut.strategy == "truncated" and cut.cut_index == 3 and cut.freeze_depth == 0
    s.extra["probe"] = {"best_index": 2}
    assert s.settings_for("truncated", base).cut_index == 2  # the probe's best level wins over the measurement
    top = s.settings_for("fine-tune-top", base)
    assert top.cut_index is None and 0 < top.freeze_depth < 8


def test_the_groups_below_a_cut_are_found_from_the_modules_they_hold():
    from core.models.network import groups_up_to, layer_groups
    from core.models.weights import create_backbone
    groups = layer_groups(create_backbone("tf_efficientnet_lite0", weights="none").model)
    assert groups_up_to(groups, "conv_stem") == 1 and groups_up_to(groups, "no.such.module") is None
    k = groups_up_to(groups, "blocks.2")
    assert 1 < k < len(groups) and any(n.startswith("blocks.2.") for n in groups[k - 1].param_names)
    s = decide(measurements(20, **DIFFERENT), num_groups=len(groups), default_cut=3)
    s.extra["groups_below_cut"] = k
    assert s.groups_below_cut(s.apply(TrainSettings())) == k  # cut where it was measured: known
    assert s.groups_below_cut(s.settings_for("feature-extraction", TrainSettings())) is None


def test_one_size_rule_for_the_advisor_and_comparisons(tmp_path):
    from core.methods.compare import small_dataset
    from core.methods.quadrants import is_small
    assert is_small([SMALL_MAX_PER_CLASS - 1, 10, 5000]) and not is_small([SMALL_MAX_PER_CLASS] * 3)
    assert decide(measurements(SMALL_MAX_PER_CLASS - 1), 8, 3).size == "small"
    assert decide(measurements(SMALL_MAX_PER_CLASS), 8, 3).size == "large"
    scan = scan_dataset(make_class_folder(tmp_path / "d", ["a", "b"], per_class=10, size=32))
    assert small_dataset(scan, TrainSettings())  # 8 training images per class: small, as the advisor says


def test_the_methods_window_offers_what_the_settings_allow():
    """core.training.settings says when two-stage fine-tuning and L2-SP apply (the dialog only asks)."""
    from dataclasses import replace

    from core.training.settings import fine_tunes, two_stage_possible
    top = TrainSettings(strategy="fine-tune-top", freeze_depth=2, epochs=5)
    assert fine_tunes(top) and two_stage_possible(top)
    assert fine_tunes(replace(top, epochs=1)) and not two_stage_possible(replace(top, epochs=1))
    assert not fine_tunes(replace(top, strategy="feature-extraction", freeze_depth=0))
    assert not fine_tunes(replace(top, weights="none"))


def test_a_class_with_two_images_does_not_stop_the_advice(tmp_path):
    """A walkthrough found a dead end: one class with 2 images (1 for training) made the layer probe raise."""
    data = make_class_folder(tmp_path / "d", ["a", "b", "c"], per_class=15, size=48)
    for extra in sorted((data / "c").iterdir())[2:]:
        extra.unlink()
    suggestion = advise(scan_dataset(data), TrainSettings(image_size=48))
    assert suggestion.strategy == "truncated"  # small + different: the quadrant that probes the layers
    assert any(line.startswith("Testing every layer: ") for line in suggestion.rationale)  # class c left out


def test_the_shift_read_off_a_folded_network_is_the_one_its_batchnorms_see():
    from core.models.fold import folded_copy
    from core.models.imagenet_shift import StatisticsShift
    from core.models.weights import create_backbone
    model = create_backbone("tf_efficientnet_lite0").model.eval()
    x = torch.rand(4, 3, 96, 96, generator=torch.Generator().manual_seed(1)) * 2 - 1
    folded = folded_copy(model, x[:2])
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())  # really folded
    with torch.inference_mode():
        plain, read = StatisticsShift(model), StatisticsShift(folded)
        model(x), folded(x)
    assert 0 < plain.value() < 5 and read.value() == pytest.approx(plain.value(), rel=1e-4)


def test_measuring_a_small_set_keeps_its_features_for_the_feature_extraction_run(tmp_path, monkeypatch):
    """The advisor's pass over every training image (and then the validation images) is what the run's
    feature cache computes: the run then reads those rows instead of computing them, and trains the same
    model as a run that computes its own."""
    from dataclasses import replace

    from core.training.trainer import train
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path / "cache"))
    root = make_class_folder(tmp_path / "data", ["circles", "squares", "stripes"], per_class=8, size=64)
    settings = TrainSettings(image_size=64)
    suggestion = advise(scan_dataset(root), settings, probe=False)
    assert suggestion.measurements.features_cached and suggestion.measurements.seconds_per_image > 0
    run = replace(settings, strategy="feature-extraction", augmentation="none", classifier_fit="converged", epochs=1)
    from core.training.events import TrainCallback

    class Steps(TrainCallback):  # how many progress steps computing the images' features took
        def __init__(self):
            self.steps = self.val_steps = 0

        def on_prepare(self, event):
            self.steps += "of the training images" in event.stage
            self.val_steps += "of the validation images" in event.stage

    kept, own = Steps(), Steps()
    after = train(scan_dataset(root), run, tmp_path / "after", kept)
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path / "own-cache"))
    alone = train(scan_dataset(root), run, tmp_path / "alone", own)
    assert kept.steps == 1 and own.steps == suggestion.measurements.sample_size  # read at once / image by image
    val_images = len(make_split(scan_dataset(root), settings.val_fraction, settings.seed).val)
    assert val_images > 1 and kept.val_steps == 1 and own.val_steps == val_images
    assert after.best_val_accuracy == alone.best_val_accuracy
    assert after.best_val_loss == pytest.approx(alone.best_val_loss, abs=1e-5)


def test_a_large_set_is_measured_on_a_sample_and_keeps_nothing(tmp_path, monkeypatch):
    import core.methods.advisor as advisor
    monkeypatch.setattr(advisor, "SAMPLE_MAX", 9)
    monkeypatch.setattr(advisor, "SAMPLE_PER_CLASS", 3)
    root = make_class_folder(tmp_path / "data", ["circles", "squares", "stripes"], per_class=8, size=64)
    m = advise(scan_dataset(root), TrainSettings(image_size=64), probe=False).measurements
    assert m.sample_size == 9 and not m.features_cached


def test_a_fixed_size_vision_transformer_is_measured_with_both_levels(tmp_path):
    """Its patch embedding takes only its own input size: every check the pass makes runs at that size."""
    root = make_class_folder(tmp_path / "data", ["circles", "squares"], per_class=4, size=48)
    suggestion = advise(scan_dataset(root), TrainSettings(model_name="vit_small_patch16_224", weights="none"),
                        probe=False)
    m = suggestion.measurements
    assert m.early_level is not None and m.early_separability > 0 and m.imagenet_shift is None
    assert not m.features_cached  # random weights: the run draws others, so nothing is kept for it
