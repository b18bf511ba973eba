"""Issue 14 ("a window the user can trust"), the Strategy and Freeze steps in core: the quick check, the layer test
and the Freeze step's table name one place in the network alike; where two numbers for one thing differ, or the cut
is not the highest bar, the words say why; measuring has a time left from its first image when this computer has
measured before. Tiny real runs (small generated images, the bundled tf_efficientnet_lite0)."""

from dataclasses import replace

import pytest

from core.data.dataset import make_split, scan_dataset
from core.methods.advisor import Measurements, advise, decide, probe_for, use_probe
from core.methods.plan_words import StageEta
from core.methods.probe import chart_notes, layer_name, margin_of_error
from core.models.layer_words import feature_level
from core.models.network import groups_up_to, layer_groups
from core.models.weights import create_backbone
from core.training.settings import TrainSettings, with_strategy
from tests.datagen import make_class_folder

LITE0 = "tf_efficientnet_lite0"


@pytest.fixture(scope="module")
def advised(tmp_path_factory):
    """A small set unlike ImageNet's photos: the advisor cuts the network and tests every layer itself."""
    root = make_class_folder(tmp_path_factory.mktemp("agree") / "d", ["a", "b", "c"], per_class=8, size=48)
    scan = scan_dataset(root)
    settings = TrainSettings(image_size=64)
    return scan, settings, advise(scan, settings)


def test_the_quick_check_names_the_layer_it_measured_even_after_the_layer_test_moved_the_cut(advised):
    _, _, s = advised
    m = s.measurements
    assert s.strategy == "truncated" and "probe" in s.extra
    levels = len(m.level_names)
    assert levels == len(s.extra["probe"]["levels"]) and m.checked_level is not None
    quick = next(line for line in s.rationale if line.startswith("Quick check"))
    assert f"at {layer_name(m.checked_level, levels)}" in quick  # the layer its number belongs to, by name
    assert f"{m.sample_size} training images" in quick
    test = next(line for line in s.rationale if line.startswith("Testing every layer"))
    assert f"at {layer_name(s.cut_index, levels)}" in test and "nearest class average" in test


def test_the_freeze_steps_groups_follow_any_cut_strategy_names(advised):
    """Before, the groups below a cut were known only for the level the advisor measured: a layer test asked for
    later (or a cut chosen by hand) left the Freeze step with all groups, or another cut's count."""
    _, settings, s = advised
    groups = layer_groups(create_backbone(LITE0, "none").model)
    names = s.measurements.level_names
    for cut in range(len(names)):
        cut_settings = with_strategy(settings, "truncated", s.num_groups, cut)
        kept = groups_up_to(groups, names[cut])
        assert s.groups_below_cut(cut_settings) == kept
        words = s.cut_words(cut_settings)
        assert f"after {layer_name(cut, len(names))}" in words and f"layer group {kept} of {len(groups)}" in words
        # the row the cut ends with has the word Strategy gives the layer ("mid-level", not "late")
        assert s.extra["layer_groups"][kept - 1]["level"] == feature_level(cut, len(names) + 1)
    assert s.groups_below_cut(s.settings_for("feature-extraction", settings)) is None
    assert s.cut_words(s.settings_for("feature-extraction", settings)) == ""


def test_a_layer_test_asked_for_later_moves_the_freeze_steps_cut_with_it(advised):
    """The measured cut was fixed (no layer test while measuring); "Test every layer" then moved it."""
    scan, settings, _ = advised
    fixed = replace(settings, cut_index=3)
    s = advise(scan, fixed)
    assert s.strategy == "truncated" and "probe" not in s.extra and s.cut_index == 3
    probe = probe_for(scan, fixed)
    use_probe(s, probe)
    moved = s.apply(fixed)
    assert moved.cut_index == probe.best_index
    expected = groups_up_to(layer_groups(create_backbone(LITE0, "none").model), probe.best["module"])
    assert s.groups_below_cut(moved) == expected


def test_the_layer_test_scores_the_runs_own_training_images(advised):
    """With another validation share, the layer test used the default split: some of the run's validation images
    were among the images it fitted on."""
    scan, settings, _ = advised
    other = replace(settings, val_fraction=0.4)
    probe = probe_for(scan, other)
    assert probe.images == len(make_split(scan, 0.4, other.seed).train)


def _quick(final=0.9, early=0.8, level=1, images=60) -> Measurements:
    return Measurements(3, images, 20, images, final, early, level, f"blocks.{level}", 0.1, 1 / 3, 0.4,
                        checked_level=level, level_names=[f"blocks.{i}" for i in range(5)])


def _probe(accuracies, final, images=60) -> dict:
    levels = [{"index": i, "module": f"blocks.{i}", "channels": 8, "accuracy": a, "logme": 0.0}
              for i, a in enumerate(accuracies)]
    best = max(range(len(accuracies) - 1), key=lambda i: (accuracies[i], -i))
    return {"levels": levels, "images": images, "best_index": best, "final_accuracy": final, "chance": 1 / 3}


def test_chart_notes_say_why_the_bars_and_the_quick_check_differ():
    probe = _probe([0.5, 0.7, 0.8, 0.8, 0.7], 0.8)
    agree = chart_notes(probe, _quick(final=0.8, early=0.7), "truncated", 2)
    assert agree[0].startswith("The bars agree with the quick check") and "70% on layer 2 of 6" in agree[0]
    differ = chart_notes(probe, _quick(final=0.9, early=0.6, images=90), "truncated", 2)
    assert "two ways" in differ[0] and "the final features: 80% here, 90% there" in differ[0]
    assert "layer 2 of 6 (early features): 70% here, 60% there" in differ[0]
    assert "nearest" in differ[0] and "The bars use 60 of your training images, the quick check 90" in differ[0]
    assert "layer 3 of 6" in differ[1] and "highest bar" in differ[1] and "earliest" in differ[1]


def test_chart_notes_say_why_the_cut_is_not_the_highest_bar():
    # the final features a little higher: within the margin of error on 60 images, the earlier layer is kept
    close = chart_notes(_probe([0.5, 0.8, 0.7, 0.7, 0.7], 0.85), _quick(), "truncated", 1)[-1]
    assert "within the margin of error" in close and "smaller network" in close and "85%" in close
    # far higher: said plainly, with the strategy that uses them
    far = chart_notes(_probe([0.5, 0.6, 0.5, 0.5, 0.5], 0.95, images=200), _quick(), "truncated", 1)[-1]
    assert "more than the margin of error" in far and "Feature extraction" in far
    # the last layer before the final features is not a cut: said so where it is the highest bar
    last = chart_notes(_probe([0.5, 0.6, 0.5, 0.5, 0.95], 0.6, images=200), _quick(), "truncated", 1)[-1]
    assert "nearly all of it" in last
    # a cut chosen by hand elsewhere
    hand = chart_notes(_probe([0.5, 0.6, 0.95, 0.5, 0.5], 0.6, images=200), _quick(), "truncated", 0)[-1]
    assert hand.startswith("You cut at layer 1 of 6")
    # not cut at all: no bar is called the cut
    whole = chart_notes(_probe([0.5, 0.6, 0.95, 0.5, 0.5], 0.6), _quick(), "fine-tune-all", None)[-1]
    assert whole.startswith("Not cut") and "60%" in whole
    assert margin_of_error(0.5, 100) == pytest.approx(0.098, abs=1e-3) and margin_of_error(1.0, 50) == 1 / 50


def test_decide_without_level_names_still_reads():
    m = Measurements(3, 60, 20, 60, 0.9, 0.8, 1, "blocks.1", 0.1, 1 / 3, 0.4)
    text = " ".join(decide(m, 8, 1).rationale)
    assert "at an earlier layer" in text and "Quick check" in text


def test_stage_eta_predicts_from_the_pace_seen_before_then_goes_by_its_own():
    now = [0.0]
    eta = StageEta(lambda: now[0])
    assert eta.seconds_left(1, 100) is None  # nothing seen on this computer: "estimating"
    for done in range(2, 101):
        now[0] += 0.5
        eta.seconds_left(done, 100)
    assert eta.seen[""] == pytest.approx(0.5)  # a stage that reached its count keeps its pace
    kept = eta.paces()
    later = StageEta(lambda: now[0])
    later.expect(kept)
    assert later.seconds_left(0, 40) == pytest.approx(20.0)  # from the first image on
    now[0] += 3
    assert later.seconds_left(20, 40) == pytest.approx(3.0)  # its own pace once it has one
    assert later.seconds_left(0, 10, "Measuring how well each layer…") is None  # another kind of stage
    later.expect("not json")
    assert later.predicted == {}
