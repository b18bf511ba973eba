""""Auto" within a time budget: the plan, the deadline, the winner, Cancel (core.methods.auto_search)."""

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.base.cancel import CancelToken
from core.base.errors import TransferLabError
from core.data.dataset import scan_dataset
from core.evaluation.predict import evaluate, predict
from core.methods.advisor import Measurements, advise, decide
from core.methods.auto_search import (AUTO_FILE, CANDIDATES_DIR, MIN_SLACK_S, OVERRUN, SLACK, parse_budget, plan,
                                      prepare_plan, run_auto)
from core.methods.compare import CompareCallback
from core.methods.plan_words import about, describe_plan, duration, finish_words
from core.methods.speeds import Speeds
from core.models.bundle import META_FILE, WEIGHTS_FILE, load_bundle
from core.training.result import TrainResult
from core.training.runs import RUN_FILE
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder

CLASSES = ["circles", "squares", "stripes"]
SPEEDS = Speeds(forward=0.02, train_step=0.12)


def _suggestion(per_class: float = 20, similar: bool = True, cut: int | None = 3):
    m = Measurements(3, int(per_class * 3), per_class, 60, 0.9, 0.8, cut, "blocks.4" if cut is not None else "(none)",
                     0.35 if similar else 0.1, 1 / 3, 0.17 if similar else 0.4)
    return decide(m, num_groups=8, default_cut=cut)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_class_folder(tmp_path_factory.mktemp("d") / "shapes", CLASSES, per_class=12, size=48)


def test_budget_words_and_minutes_are_parsed_with_clear_errors():
    assert parse_budget("Balanced") == "balanced" and parse_budget(None) == "balanced"
    assert parse_budget("2.5") == "2.5"
    for bad in ("soon", "0", "-3", "5000"):
        with pytest.raises(TransferLabError, match="budget|minutes"):
            parse_budget(bad)


@pytest.mark.parametrize("similar", [True, False])
def test_fast_tries_only_classifiers_on_frozen_features(similar):
    p = plan(_suggestion(similar=similar), TrainSettings(), SPEEDS, 200, 50, "fast")
    assert [c.name for c in p.candidates] == ["both"]  # its classifier averages in the earlier level's own
    assert all(c.settings.strategy in ("feature-extraction", "truncated") for c in p.candidates)
    assert p.limit_s == pytest.approx(max(SLACK * p.predicted_s, p.predicted_s + MIN_SLACK_S))
    # a plan of seconds keeps a few seconds' slack: a fit that converges slower must not cost the next try
    assert p.limit_s >= p.predicted_s + MIN_SLACK_S
    long = plan(_suggestion(similar=similar), TrainSettings(), Speeds(forward=1.0, train_step=3.0), 200, 50, "fast")
    assert long.limit_s == pytest.approx(SLACK * long.predicted_s)


def test_the_first_candidate_sees_both_levels_and_the_earlier_one_then_only_fits():
    balanced = plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "balanced")
    both, earlier = balanced.candidates[:2]
    assert [c.name for c in plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "fast").candidates] \
        == ["both"]  # Fast: its classifier averages in the earlier level's own
    assert both.settings.with_level == earlier.settings.cut_index == 3 and both.settings.strategy == "feature-extraction"
    both.settings.validate()
    assert earlier.predicted_s < both.predicted_s - 250 * SPEEDS.forward + 1e-9  # no pass of its own
    # a model that cannot be cut: the final features alone, and no earlier candidate
    uncut = plan(_suggestion(similar=False, cut=None), TrainSettings(), SPEEDS, 200, 50, "fast")
    assert [c.name for c in uncut.candidates] == ["final"] and uncut.candidates[0].settings.with_level is None
    # a budget in minutes that cannot hold the first candidate charges the earlier one its own pass
    slow = Speeds(forward=0.5, train_step=3.0, earlier=0.2)
    lone = plan(_suggestion(similar=False), TrainSettings(), slow, 200, 50, "2.05")
    assert [c.name for c in lone.candidates] == ["earlier"] and lone.candidates[0].predicted_s > 250 * slow.earlier


def test_balanced_adds_views_and_a_two_stage_fine_tuning_and_best_fine_tunes_longer():
    balanced = plan(_suggestion(), TrainSettings(), SPEEDS, 200, 50, "balanced")
    best = plan(_suggestion(), TrainSettings(), SPEEDS, 200, 50, "best")
    assert [c.name for c in balanced.candidates] == ["both", "earlier", "fine-tune"]
    assert [c.name for c in best.candidates] == ["both", "earlier", "views", "fine-tune"]
    fine, longer = balanced.candidates[-1].settings, best.candidates[-1].settings
    assert fine.two_stage and fine.lp_ft and fine.augmentation == "standard" and fine.strategy == "fine-tune-top"
    assert longer.epochs > fine.epochs and best.predicted_s > balanced.predicted_s
    different = plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "balanced")
    assert different.candidates[-1].settings.strategy == "fine-tune-all"


@pytest.mark.parametrize("minutes", ["0.25", "1", "3", "20"])
def test_a_budget_in_minutes_is_planned_inside_it(minutes):
    p = plan(_suggestion(), TrainSettings(), SPEEDS, 400, 100, minutes)
    assert p.limit_s == float(minutes) * 60 and p.predicted_s <= p.limit_s
    fine = [c for c in p.candidates if c.name == "fine-tune"]
    if fine:  # as many epochs as fit, never more than the cap
        assert 2 <= fine[0].settings.epochs <= 10
    if minutes == "20":
        assert fine and fine[0].settings.epochs == 10


def test_too_small_a_budget_says_how_long_the_quickest_candidate_takes():
    with pytest.raises(TransferLabError, match="too little.*minutes on this computer"):
        plan(_suggestion(), TrainSettings(), Speeds(forward=1.0, train_step=3.0), 400, 100, "0.5")


class _SimulatedTrainer:
    """Trains nothing: advances a simulated clock by what each candidate would cost (fine-tuning stops
    at the deadline it is given, like core.training.trainer) and writes a bundle-shaped folder."""

    def __init__(self, costs: dict[str, float], accuracies: dict[str, float]) -> None:
        self.now, self.costs, self.accuracies, self.calls = 0.0, costs, accuracies, []

    def clock(self) -> float:
        return self.now

    def __call__(self, scan, settings, run_dir, cb, cancel, overwrite, deadline):
        name = Path(run_dir).name
        self.calls.append(name)
        budget_left = deadline - time.monotonic()
        self.now += min(self.costs[name], budget_left) if name == "fine-tune" else self.costs[name]
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / META_FILE).write_text(json.dumps({"name": name}))
        (run_dir / WEIGHTS_FILE).write_text(name)
        (run_dir / RUN_FILE).write_text("{}")
        return TrainResult(run_dir, 1, self.accuracies[name], 0.5, [{"epoch": 1}])


def test_with_a_simulated_clock_the_run_stays_inside_its_budget_and_keeps_the_best(data, tmp_path):
    p = plan(_suggestion(), TrainSettings(), SPEEDS, 400, 100, "3")
    names = [c.name for c in p.candidates]
    assert names[-1] == "fine-tune"
    # the first candidate overruns until the second no longer fits, the fine-tuning takes ten times the budget
    costs = {c.name: c.predicted_s for c in p.candidates}
    costs[names[0]] = max(10 * costs[names[0]], p.limit_s - 0.5 * p.candidates[1].predicted_s)
    costs["fine-tune"] = 10 * p.limit_s
    accuracies = {name: 0.5 + 0.1 * i for i, name in enumerate(names)}
    sim = _SimulatedTrainer(costs, accuracies)
    result = run_auto(scan_dataset(data), p, tmp_path / "run", clock=sim.clock, trainer=sim)
    assert sim.now <= p.limit_s * OVERRUN
    statuses = {r["name"]: r["status"] for r in result.rows}
    assert "skipped" in statuses.values()  # what no longer fits is not started
    assert statuses["fine-tune"] == "done"  # fine-tuning runs to the deadline
    assert result.winner == "fine-tune" and (tmp_path / "run" / WEIGHTS_FILE).read_text() == "fine-tune"
    summary = json.loads((tmp_path / "run" / AUTO_FILE).read_text())
    assert summary["winner"] == "fine-tune" and json.loads((tmp_path / "run" / META_FILE).read_text())["auto"]
    assert not (tmp_path / "run" / CANDIDATES_DIR).exists()


def test_the_trainer_stops_at_its_deadline_and_keeps_the_best_epoch(data, tmp_path):
    s = replace(TrainSettings(image_size=48, strategy="fine-tune-all", freeze_depth=8, epochs=30, batch_size=8),
                speedups=False)
    started = time.monotonic()
    first = train(scan_dataset(data), replace(s, epochs=1), tmp_path / "one")  # one epoch's length here
    epoch_s = time.monotonic() - started
    started = time.monotonic()
    result = train(scan_dataset(data), s, tmp_path / "run", deadline=started + 2.5 * epoch_s)
    assert result.stopped_early and 1 <= len(result.history) < 30
    assert time.monotonic() - started < 2.5 * epoch_s + 2 * epoch_s  # the finish (saving) is outside the loop
    assert load_bundle(tmp_path / "run").meta["metrics"]["best_epoch"] == result.best_epoch
    assert first.best_epoch == 1


def test_auto_hands_back_a_working_model_and_says_what_it_tried(data, tmp_path):
    scan, base = scan_dataset(data), TrainSettings(image_size=48)
    p = prepare_plan(scan, base, advise(scan, base, probe=False), "fast")
    # a clock that stands still: a slow test machine must not push a candidate past the deadline
    result = run_auto(scan, p, tmp_path / "run", clock=lambda: 0.0)
    assert [r["name"] for r in result.rows] == [c.name for c in p.candidates] == ["both"]
    assert result.rows[0]["winner"] and result.rows[0]["status"] == "done" and result.winner == "both"
    bundle = load_bundle(tmp_path / "run")
    assert bundle.meta["auto"]["winner"] == result.winner
    assert evaluate(bundle, scan_dataset(data)).accuracy > 0.5
    assert not (tmp_path / "run" / CANDIDATES_DIR).exists()


def test_cancel_keeps_the_best_candidate_finished_so_far(data, tmp_path):
    cancel = CancelToken()

    class CancelAfterFirst(CompareCallback):
        def on_candidate_end(self, row: dict) -> None:
            cancel.cancel()

    p = plan(_suggestion(), TrainSettings(image_size=48), SPEEDS, 28, 8, "balanced")
    result = run_auto(scan_dataset(data), p, tmp_path / "run", CancelAfterFirst(), cancel)
    assert result.cancelled and result.winner == "both"
    assert [r["status"] for r in result.rows] == ["done", "cancelled"]
    assert predict(load_bundle(tmp_path / "run"), [next(data.rglob("*.png"))])[0]["label"] in CLASSES


def test_on_a_tie_the_cheaper_candidate_is_kept(data, tmp_path):
    p = plan(_suggestion(), TrainSettings(), SPEEDS, 40, 10, "balanced")
    costs = {c.name: 1.0 for c in p.candidates}
    sim = _SimulatedTrainer(costs, {c.name: 0.9 for c in p.candidates})
    assert run_auto(scan_dataset(data), p, tmp_path / "run", clock=sim.clock, trainer=sim).winner == "both"


def test_fast_does_not_time_a_training_step_and_other_budgets_then_ask_to_measure_again(data):
    from core.methods.advisor import advise
    from core.methods.auto_search import plan_for, prepare_plan
    scan, base = scan_dataset(data), TrainSettings(image_size=48)
    suggestion = advise(scan, base, probe=False)
    fast = prepare_plan(scan, base, suggestion, "fast")
    assert suggestion.extra["speeds"]["train_step"] is None and suggestion.extra["speeds"]["forward"] > 0
    assert fast.predicted_s > 0 and all(c.name != "fine-tune" for c in fast.candidates)
    with pytest.raises(TransferLabError, match="measure the images again"):
        plan_for(suggestion, base, "balanced")
    balanced = prepare_plan(scan, base, suggestion, "balanced")
    assert suggestion.extra["speeds"]["train_step"] > 0 and balanced.candidates[-1].name == "fine-tune"


def test_predicted_times_are_words_a_user_reads():
    assert duration(106) == "1 min 46 s" and duration(7.4) == "7 s" and duration(0.3) == "under a second"
    assert about(7.4) == "about 7 s" and about(0.3) == "under a second"  # never "about 0 s"
    words = describe_plan(plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "balanced"), now=0)
    assert "Classifier on earlier-layer features (under a second)" in words and "about 0 s" not in words


@pytest.mark.parametrize("better_by, wins", [(1, False), (2, True)])
def test_a_costlier_candidate_must_be_right_on_two_more_validation_images(data, tmp_path, better_by, wins):
    """One image is no evidence: a tie or one image more keeps the earlier, cheaper candidate."""
    from core.data.dataset import make_split
    p = plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "balanced")
    names = [c.name for c in p.candidates]
    val = len(make_split(scan_dataset(data), p.candidates[0].settings.val_fraction, 0).val)
    sim = _SimulatedTrainer({n: 1.0 for n in names}, {n: 0.5 + (better_by / val if n == names[-1] else 0)
                                                      for n in names})
    result = run_auto(scan_dataset(data), p, tmp_path / "run", clock=sim.clock, trainer=sim)
    assert sim.calls == names and result.winner == (names[-1] if wins else names[0])


def test_after_a_perfect_validation_score_the_later_candidates_are_skipped(data, tmp_path):
    """A tie keeps the earlier candidate, so nothing after a 100% can win: its time is saved, and said."""
    p = plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "balanced")
    names = [c.name for c in p.candidates]
    assert len(names) >= 3
    sim = _SimulatedTrainer({n: 1.0 for n in names}, {n: 1.0 if n == names[1] else 0.5 for n in names})
    result = run_auto(scan_dataset(data), p, tmp_path / "run", clock=sim.clock, trainer=sim)
    assert sim.calls == names[:2] and result.winner == names[1]
    assert all(r["status"] == "skipped" and "already scored 100%" in r["reason"] for r in result.rows[2:])
    assert "Once one scores 100% on them, the rest are skipped" in describe_plan(p, now=0)


def test_the_plan_predicts_the_early_end_after_a_perfect_classifier_too():
    """The two times a user may see: the whole plan, and the classifiers alone (their 100% skips the rest)."""
    balanced = plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "balanced")
    classifiers = [c for c in balanced.candidates if c.name in ("both", "earlier")]
    assert len(classifiers) == 2 and balanced.candidates[-1].name == "fine-tune"
    assert balanced.early_s == pytest.approx(classifiers[0].predicted_s)  # the first's 100% skips the rest
    assert balanced.early_s < balanced.predicted_s
    assert f"Only {duration(balanced.early_s)} if the first classifier scores 100%" in finish_words(balanced, now=0)
    fast = plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "fast")
    assert fast.early_s is None and "Only" not in finish_words(fast, now=0)  # nothing costlier to skip


def test_classifier_predictions_follow_this_computers_fit_speed():
    """A computer twice as slow at fitting gets twice the classifiers' time; the network's passes are timed apart."""
    one = plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "balanced")
    two = plan(_suggestion(similar=False), TrainSettings(), replace(SPEEDS, fit_factor=2.0), 200, 50, "balanced")
    assert one.candidates[1].predicted_s > 0
    assert two.candidates[1].predicted_s == pytest.approx(2 * one.candidates[1].predicted_s)  # the fit alone


def test_the_fit_speed_is_measured_once_per_computer_and_remembered(tmp_path, monkeypatch):
    import core.methods.speeds as speeds
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(speeds, "_FIT_SEEN", {})
    timed = []
    monkeypatch.setattr(speeds, "_time_fit", lambda: timed.append(1) or 2 * speeds.REFERENCE_FIT_S)
    assert speeds.fit_factor() == pytest.approx(2.0) and speeds.fit_factor() == pytest.approx(2.0)
    monkeypatch.setattr(speeds, "_FIT_SEEN", {})  # a new process: read from the file, not timed again
    assert speeds.fit_factor() == pytest.approx(2.0) and len(timed) == 1
    assert (tmp_path / "computer" / speeds.FIT_FILE).is_file()
    (tmp_path / "computer" / speeds.FIT_FILE).write_text("not json")  # damaged: measured again
    monkeypatch.setattr(speeds, "_FIT_SEEN", {})
    assert speeds.fit_factor() == pytest.approx(2.0) and len(timed) == 2


def test_finished_classifier_runs_teach_the_fit_speed_and_the_median_holds(tmp_path, monkeypatch):
    """One timing at a busy moment must not mislead every later plan: real runs' fits add their own speeds."""
    import json

    import core.methods.speeds as speeds
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(speeds, "_FIT_SEEN", {})
    monkeypatch.setattr(speeds, "_time_fit", lambda: 3 * speeds.REFERENCE_FIT_S)  # timed at a busy moment: 3x
    assert speeds.fit_factor() == pytest.approx(3.0)
    for _ in range(2):  # fit-only runs that each took a third of the time predicted: the computer fits at 1x
        speeds.learn_fit_speed(2.0, 2.0, 3.0, 2.0 / 3)
    assert speeds.fit_factor() == pytest.approx(1.0)  # the median of 3, 1, 1
    speeds.learn_fit_speed(10.0, 1.0, 3.0, 30.0)  # 9 s of its 10 were the network's pass: nothing learnt
    monkeypatch.setattr(speeds, "_FIT_SEEN", {})  # a new process reads what was learnt
    assert speeds.fit_factor() == pytest.approx(1.0)
    (entry,) = json.loads((tmp_path / "computer" / speeds.FIT_FILE).read_text()).values()
    assert entry["observed"] == pytest.approx([1.0, 1.0])
    for _ in range(speeds.FIT_OBSERVED_KEPT + 5):
        speeds.observe_fit_factor(2.0)
    assert speeds.fit_factor() == pytest.approx(2.0) and len(speeds._FIT_SEEN.popitem()[1]["observed"]) == \
        speeds.FIT_OBSERVED_KEPT


def test_one_odd_run_or_a_damaged_list_does_not_mislead_the_plan(tmp_path, monkeypatch):
    import json

    import core.methods.speeds as speeds
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(speeds, "_FIT_SEEN", {})
    monkeypatch.setattr(speeds, "_time_fit", lambda: 0.6 * speeds.REFERENCE_FIT_S)
    speeds.observe_fit_factor(20.0)  # a run while the computer slept
    assert speeds.fit_factor() == pytest.approx(0.6)  # one run alone does not outvote the timing
    speeds.observe_fit_factor(20.0)
    assert speeds.fit_factor() == pytest.approx(1.8)  # each counts as 3x off at most
    path = tmp_path / "computer" / speeds.FIT_FILE
    (key,) = json.loads(path.read_text())
    path.write_text(json.dumps({key: {"probe": 0.09, "observed": ["fast", None, 0.5, 0.5]}}))
    monkeypatch.setattr(speeds, "_FIT_SEEN", {})
    assert speeds.fit_factor() == pytest.approx(0.5)  # the numbers kept, the rest dropped


def test_a_fit_speed_file_of_the_earlier_format_is_read(tmp_path, monkeypatch):
    import json

    import core.methods.speeds as speeds
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(speeds, "_FIT_SEEN", {})
    monkeypatch.setattr(speeds, "_time_fit", lambda: 3 * speeds.REFERENCE_FIT_S)
    speeds.fit_factor()
    path = tmp_path / "computer" / speeds.FIT_FILE
    (key,) = json.loads(path.read_text())
    path.write_text(json.dumps({key: 0.5 * speeds.REFERENCE_FIT_S}))  # seconds alone, as sessions before wrote it
    monkeypatch.setattr(speeds, "_FIT_SEEN", {})
    assert speeds.fit_factor() == pytest.approx(0.5)


def test_the_real_fit_timing_is_quick_and_positive():
    from core.methods.speeds import _time_fit
    started = time.monotonic()
    assert 0 < _time_fit(repeats=1) < 5 and time.monotonic() - started < 10


def test_a_plan_within_one_minute_of_the_clock_says_its_seconds_not_one_time_twice():
    """'done around 07:51 if started now, 07:51 at the latest' read alike: a short plan gives its seconds."""
    fast = plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "fast")
    minute = 60 * 60 * 24 * 365  # the start of a minute, in any time zone of whole minutes
    words = finish_words(fast, now=minute)
    assert fast.limit_s < 60 and words.count(time.strftime("%H:%M", time.localtime(minute))) == 1
    assert f"Predicted time {duration(fast.predicted_s)}, {duration(fast.limit_s)} at the latest: done around" in words
    longer = plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 2000, 500, "balanced")
    assert longer.predicted_s > 120 and "at the latest." in finish_words(longer, now=minute)  # two times of day


def test_finished_fine_tuning_teaches_the_step_speed_and_a_busy_timing_is_outvoted(tmp_path, monkeypatch):
    """One timing at a busy moment (45% over what the epochs took) must not set every later plan."""
    import core.methods.speeds as speeds
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path))
    best = plan(_suggestion(similar=False), TrainSettings(), SPEEDS, 200, 50, "best")
    step = best.candidates[-1].step
    assert step.key == speeds.step_key(TrainSettings(), best.candidates[-1].settings.freeze_depth)
    assert (step.train_images, step.other_s, step.timed) == (200, pytest.approx(50 * 0.02), 0.12)
    assert speeds.steadier_step(0.12, step.key) == 0.12  # nothing recorded yet: the timing
    head = [{"epoch": 1, "seconds": 99.0}]  # the classifier's epoch is not a fine-tuning step
    speeds.learn_step_speed(step, head + [{"epoch": e, "seconds": 200 * 0.06 + 1.0} for e in (2, 3, 4)], 1)
    assert speeds.steadier_step(0.12, step.key) == pytest.approx(0.09)  # one run: halfway
    speeds.learn_step_speed(step, head + [{"epoch": 2, "seconds": 200 * 0.06 + 1.0}], 1)
    assert speeds.steadier_step(0.12, step.key) == pytest.approx(0.06)  # two runs outvote a busy timing
    assert speeds.steadier_step(0.12, speeds.step_key(TrainSettings(image_size=300), None)) == 0.12  # other key
    speeds.learn_step_speed(step, head, 1)  # stopped before fine-tuning: nothing learnt
    speeds.learn_step_speed(step, head + [{"epoch": 2, "seconds": 3000.0}], 1)  # the computer slept: 3x at most
    speeds.learn_step_speed(step, head + [{"epoch": 2, "seconds": 3000.0}], 1)
    assert speeds._step_records()[step.key] == pytest.approx([0.06, 0.06, 0.36, 0.36])
    assert speeds.steadier_step(0.12, step.key) == pytest.approx(0.12)  # the median of those and the timing
    (tmp_path / "computer" / speeds.STEP_FILE).write_text("not json")  # damaged: the timing alone
    assert speeds.steadier_step(0.12, step.key) == 0.12


def test_a_pass_is_timed_in_its_stride_not_by_its_warm_up_or_one_busy_batch():
    from core.training.frozen_pass import steady_seconds
    ends = [(1.0, 32), (1.5, 32), (2.0, 32), (3.5, 32), (4.0, 32), (4.1, 5)]  # warm-up 1 s, one batch at 1.5 s
    assert steady_seconds(ends) == pytest.approx(0.5 / 32)  # the mean would say 4.1 s / 165 images: 60% more
    assert steady_seconds(ends[:3]) is None  # too few batches to tell: the pass's whole time is used


def test_views_are_planned_as_one_decode_and_further_passes_whatever_the_decode_timing():
    """A decode timed on 8 images can come out longer than the whole pass per image: views stay positive."""
    speeds = replace(SPEEDS, decode=0.05)  # more than the forward pass's 0.02, decoding included
    views = next(c for c in plan(_suggestion(similar=False), TrainSettings(), speeds, 200, 50, "best").candidates
                 if c.name == "views")
    assert views.predicted_s >= (200 * (0.02 + 3 * 0.01) + 50 * 0.02)


def test_a_higher_score_that_was_not_kept_says_why():
    """A walkthrough saw fine-tuning at 100% listed under a kept 94.4% with no word of the rule."""
    from core.methods.plan_words import KEEPS, passed_over
    kept, higher, lower = {"val_accuracy": 17 / 18, "winner": True}, {"val_accuracy": 1.0}, {"val_accuracy": 0.5}
    assert "fewer than two more" in passed_over(higher, kept) and passed_over(lower, kept) == passed_over(kept, kept) == ""
    assert "two more" in KEEPS
