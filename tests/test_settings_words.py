"""The Freeze step's words come from core (core.training.settings_words), where they can be tested."""

from core.data.augmentation import FEATURE_VIEWS
from core.methods.adaptation import Adaptation
from core.training.settings import TrainSettings
from core.training.settings_words import augmentation_words, depth_notes, methods_words


def test_methods_are_listed_in_plain_words():
    s = TrainSettings(strategy="fine-tune-top", freeze_depth=2, epochs=6, two_stage=True, head_epochs=2,
                      l2sp_alpha=0.01, classifier_fit="epochs")
    words = methods_words(s, Adaptation("/data/new", None, 1.0))
    assert words[0].startswith("two-stage: 2 epoch(s)") and "α = 0.01" in words[1] and "DANN" in words[2]
    assert "until it stops improving" in methods_words(TrainSettings(strategy="feature-extraction",
                                                                     classifier_fit="converged"))[0]


def test_depth_notes_say_where_the_cut_is_and_when_a_strategy_becomes_another():
    cut = TrainSettings(strategy="truncated", cut_index=1)
    assert "after layer group 3 of 8" in depth_notes(cut, 0, 3, 8)[0]
    assert "no longer pure feature extraction" in depth_notes(TrainSettings(strategy="feature-extraction"), 2, None, 8)[0]
    assert "this is feature extraction" in depth_notes(TrainSettings(strategy="fine-tune-all"), 0, None, 8)[0]
    assert depth_notes(TrainSettings(strategy="fine-tune-top", freeze_depth=2), 2, None, 8) == []


def test_augmentation_words_say_what_a_frozen_network_costs():
    frozen = TrainSettings(strategy="feature-extraction", freeze_depth=0, augmentation="light")
    assert f"up to {FEATURE_VIEWS} views" in augmentation_words(frozen)
    assert "runs once per image" in augmentation_words(TrainSettings(freeze_depth=0, augmentation="none"))
    one_go = TrainSettings(freeze_depth=0, augmentation="none", classifier_fit="converged")
    assert "epoch" not in augmentation_words(one_go)  # fitted in one go: "there are no epochs" (a walkthrough)
    top = TrainSettings(strategy="fine-tune-top", freeze_depth=2, augmentation="none")
    assert "frozen lower layers run once" in augmentation_words(top, 8)
    every = TrainSettings(strategy="fine-tune-all", freeze_depth=8, augmentation="none")
    assert "frozen" not in augmentation_words(every, 8) and "Every layer is trained" in augmentation_words(every, 8)


def test_the_compute_plan_in_plain_words():
    from core.training.settings_words import precision_words
    assert precision_words("bf16, channels-last") == (
        "quicker, slightly rounded arithmetic where that is safe (bf16); images kept in memory in the order this "
        "processor reads fastest (channels-last)")
    assert precision_words("fp32") == "full-accuracy arithmetic (fp32)"
    staged = precision_words("bf16, channels-last for fine-tuning steps; features, validation and predictions in fp32")
    assert staged.endswith("(channels-last) while fine-tuning; full-accuracy arithmetic (fp32) for features, "
                           "validation and predictions")
