""""Auto": try candidates in order of cost within a time budget, keep the best on held-out evidence.

The advisor's quadrant (core.methods.advisor) is the prior: it says which candidates are worth trying and
how deep a fine-tuning candidate goes. Evidence decides: every candidate is an ordinary training
run on the *same* split, and the one with the best validation accuracy (then lowest loss) becomes
the run's model. A classifier on a frozen backbone is then refitted on all labelled images by the
trainer itself (core.training.refit); its reported accuracy stays the held-out one.

The budget (``BUDGETS`` or a number of minutes) is planned before anything runs, from speeds
measured on this computer (core.methods.speeds), and kept while running: a candidate that no
longer fits what is left is skipped, and fine-tuning stops at the deadline keeping its best epoch
(core.training.trainer). A named budget's deadline is its predicted time plus 25% (at least 5 s), shown
as "at the latest". Cancel keeps the best candidate finished so far as the run's model.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from core.base.atomic import atomic_write_json
from core.base.errors import Cancelled, TransferLabError
from core.data.augmentation import FEATURE_VIEWS
from core.methods.compare import CompareCallback
from core.methods.speeds import (CANDIDATE_SET_UP_S, Speeds, StepPlan, fit_factor, fit_seconds, learn_fit_speed,
                                 learn_step_speed, measure_speeds, steadier_step, step_key)
from core.training.result import TrainResult
from core.training.settings import TrainSettings, consistent, strategy_settings

BUDGETS = ("fast", "balanced", "best")
DEFAULT_BUDGET = "balanced"
BUDGET_WORDS = {"fast": "the classifier on the model's features only (seconds to a few minutes)",
                "balanced": "also earlier-layer features and a short fine-tuning of the network",
                "best": "also augmented views, and a longer fine-tuning"}
FINE_TUNE_EPOCHS = {"balanced": 3, "best": 8}  # incl. one head-only epoch (two-stage, LP-FT)
MAX_FINE_TUNE_EPOCHS = 10
SLACK = 1.25  # a named budget's deadline: its predicted time plus 25% (how far a prediction may miss)...
MIN_SLACK_S = 5.0  # ...and at least this much more: a plan of seconds misses by more than a quarter (a fit
# that converges slower), and an earlier-layer try, which may win, was once skipped for a fraction of a second
OVERRUN = 1.10  # what the run may take past its deadline: at most 10% (the tests hold it to that)
MANY_IMAGES = 1000  # from here, timing this computer takes 6 rounds instead of 3 (a second more, on a run of minutes)
AUTO_FILE = "auto.json"
CANDIDATES_DIR = "candidates"
VIEWS = FEATURE_VIEWS  # augmented views per training image of the "views" candidate
CLASSIFIERS = ("final", "both", "earlier")  # the candidates that only fit a classifier on cached features


@dataclass
class Planned:
    name: str  # "both" (or "final" for a model that cannot be cut), "earlier", "views", "fine-tune"
    title: str  # in plain words, for the Strategy page and the log
    settings: TrainSettings
    predicted_s: float
    fit_s: float = 0.0  # a classifier's fit (with its run's set-up) within predicted_s, at fit_factor: what
    fit_factor: float = 1.0  # a finished run teaches core.methods.speeds about this computer's fit speed
    step: StepPlan | None = None  # a fine-tuning candidate's epochs as planned: the run teaches its step speed


@dataclass
class Plan:
    budget: str  # "fast" | "balanced" | "best" | minutes as text, e.g. "5"
    candidates: list[Planned]
    limit_s: float  # the deadline, from the start

    @property
    def predicted_s(self) -> float:
        return sum(c.predicted_s for c in self.candidates)

    @property
    def early_s(self) -> float | None:
        """The predicted seconds when the first candidate, a classifier on cached features, scores 100% on the
        validation images: the later ones are then skipped (run_auto). None when it is not a classifier or
        no costlier kind of candidate follows. (When a later classifier is the first to score 100%, the run
        ends after that one.)"""
        if not self.candidates or self.candidates[0].name not in CLASSIFIERS or \
                all(c.name in CLASSIFIERS for c in self.candidates):
            return None
        return self.candidates[0].predicted_s

    def to_dict(self) -> dict:
        return {"budget": self.budget, "limit_s": self.limit_s, "predicted_s": self.predicted_s,
                "candidates": [{"name": c.name, "title": c.title, "predicted_s": c.predicted_s,
                                "strategy": c.settings.strategy} for c in self.candidates]}


@dataclass
class AutoResult(TrainResult):
    """What :func:`run_auto` hands back: the winner's training result and every candidate's row."""

    rows: list[dict] = field(default_factory=list)
    winner: str = ""


def parse_budget(text: str | float | None) -> str:
    """"fast", "balanced", "best" or a positive number of minutes (as text); a clear error otherwise."""
    value = str(text if text is not None else DEFAULT_BUDGET).strip().lower()
    if value in BUDGETS:
        return value
    try:
        minutes = float(value)
    except ValueError:
        raise TransferLabError(f"Unknown time budget '{text}': choose fast, balanced, best or a number of "
                               "minutes") from None
    if not 0 < minutes <= 24 * 60:
        raise TransferLabError("A time budget in minutes must be more than 0 and at most 1440 (a day)")
    return f"{minutes:g}"


def plan(suggestion, base: TrainSettings, speeds: Speeds, train_images: int, val_images: int,
         budget: str = DEFAULT_BUDGET) -> Plan:
    """Candidates in order of cost with their predicted seconds, fitted to the budget. Pure: the
    numbers in, the plan out (tests drive it with made-up speeds)."""
    budget = parse_budget(budget)
    groups, similar = suggestion.num_groups, suggestion.similarity == "similar"
    n_all, classes = train_images + val_images, suggestion.measurements.num_classes
    head_fit = fit_seconds(n_all, classes, factor=speeds.fit_factor)
    head = lambda strategy, **kw: consistent(replace(base, **{**strategy_settings(  # noqa: E731
        strategy, groups, suggestion.cut_index, suggestion.size == "small"), **kw}))
    cut = suggestion.cut_index if suggestion.cut_index is not None else suggestion.measurements.early_level
    # the advisor's pass kept a small set's features for this candidate: only the fit is left
    passed = 0 if suggestion.measurements.features_cached else n_all
    factor = speeds.fit_factor
    if cut is None:
        options = [Planned("final", "Classifier on the final features", head("feature-extraction"),
                           passed * speeds.forward + head_fit, head_fit, factor)]
    else:  # measured: at least as accurate on new images as the final features alone on all 7 bench sets; its
        # classifier averages one on both and one on the earlier level alone (core.training.linear_head.averaged)
        earlier_fit = fit_seconds(n_all, classes, earlier=True, factor=factor)
        both_fit = head_fit + earlier_fit - factor * CANDIDATE_SET_UP_S  # one run's set-up
        options = [Planned("both", "Classifier on the final and earlier-layer features together",
                           head("feature-extraction", with_level=cut), passed * speeds.forward + both_fit, both_fit,
                           factor),
                   Planned("earlier", "Classifier on earlier-layer features", head("truncated", cut_index=cut),
                           earlier_fit, earlier_fit, factor)]
    views_strategy = "feature-extraction" if similar or cut is None else "truncated"
    options.append(Planned("views", f"Classifier on {VIEWS} augmented views per image",
                           head(views_strategy, cut_index=cut if views_strategy == "truncated" else None,
                                augmentation="light"),
                           (train_images * (speeds.forward + (VIEWS - 1) * _view_s(speeds))
                            + val_images * speeds.forward)
                           + fit_seconds(VIEWS * n_all, classes, earlier=views_strategy == "truncated",
                                         factor=factor)))
    fine = _fine_tune(suggestion, base, speeds, train_images, val_images, budget, options)
    if budget == "fast":  # the first candidate's classifier already averages in the earlier level's own one
        chosen = options[:1]
        return Plan(budget, chosen, _deadline(chosen))
    if budget in BUDGETS:  # views never won on the benchmark (at best a tie, at 4x the cost): Best only
        chosen = [o for o in options if o.name != "views" or budget == "best"] + ([fine] if fine else [])
        return Plan(budget, chosen, _deadline(chosen))
    limit = float(budget) * 60
    chosen, used = [], 0.0
    for option in options + ([fine] if fine else []):
        if option.name == "earlier" and not chosen:  # without the first pass before it, it runs its own
            option = replace(option, predicted_s=head_fit + n_all * (speeds.earlier or speeds.forward))
        if used + option.predicted_s <= limit:
            chosen.append(option)
            used += option.predicted_s
    if not chosen:
        raise TransferLabError(f"{budget} minute(s) is too little for even the quickest candidate (about "
                               f"{options[0].predicted_s / 60:.1f} minutes on this computer): allow more time")
    return Plan(budget, chosen, limit)


def _view_s(speeds: Speeds) -> float:
    """A further augmented view of an image already decoded: the pass without decoding, at least half of it."""
    return max(speeds.forward - speeds.decode, 0.5 * speeds.forward)


def _deadline(chosen: list[Planned]) -> float:
    """A named budget's limit: the predicted time plus 25%, and at least MIN_SLACK_S more."""
    predicted = sum(c.predicted_s for c in chosen)
    return max(SLACK * predicted, predicted + MIN_SLACK_S)


def _fine_tune(suggestion, base: TrainSettings, speeds: Speeds, train_images: int, val_images: int,
               budget: str, before: list[Planned]) -> Planned | None:
    """LP-FT: the classifier fitted to convergence first, then fine-tuning with augmentation of the
    quadrant's depth, with as many epochs as the budget allows (None when not even two fit). Measured
    on 13 classes of photo crops at 128 px: held-out accuracy 65% for the plain two-stage start (one
    AdamW epoch of the head), 72% with the converged head (bench.quality)."""
    if budget == "fast" or not base.pretrained:
        return None
    values = _fine_tune_settings(suggestion)
    strategy = values["strategy"]
    # LP-FT's head-only stage fits on the evaluation crop's features: the "final" candidate has cached
    # them (same key) when it ran first, so only the fit is left to pay
    fit = fit_seconds(train_images + val_images, suggestion.measurements.num_classes, factor=speeds.fit_factor)
    head_epoch = fit if any(o.name in ("final", "both") for o in before) else \
        (train_images + val_images) * speeds.forward + fit
    epoch = train_images * speeds.train_step + val_images * speeds.forward  # the step timed at this depth
    head_epoch += train_images * speeds.decode  # the training images are decoded once for fine-tuning
    head_epoch += (train_images + val_images) * speeds.forward  # and pass once more for "I don't know"
    if budget in FINE_TUNE_EPOCHS:
        epochs = FINE_TUNE_EPOCHS[budget]
    else:
        left = float(budget) * 60 - sum(o.predicted_s for o in before)
        epochs = min(MAX_FINE_TUNE_EPOCHS, 1 + int(max(0.0, left - head_epoch) // max(epoch, 1e-9)))
        if epochs < 2:
            return None
    settings = consistent(replace(base, **{**values, "epochs": epochs, "head_epochs": 1, "two_stage": True,
                                           "lp_ft": True, "augmentation": "standard"}))
    words = "the top layers" if strategy == "fine-tune-top" else "all layers"
    return Planned("fine-tune", f"Fine-tuning {words} ({epochs - 1} epochs after one for the classifier)",
                   settings, head_epoch + (epochs - 1) * epoch, step=StepPlan(
                       step_key(base, values["freeze_depth"]), train_images, val_images * speeds.forward,
                       speeds.train_step))


def _fine_tune_settings(suggestion) -> dict:
    """The fine-tuning candidate's strategy defaults: the top layers for similar data, all for different."""
    strategy = "fine-tune-top" if suggestion.similarity == "similar" else "fine-tune-all"
    return strategy_settings(strategy, suggestion.num_groups, None, suggestion.size == "small")


def run_auto(scan, auto_plan: Plan, run_dir: Path, callback: CompareCallback | None = None, cancel=None,
             overwrite: bool = False, clock: Callable[[], float] = time.monotonic, trainer=None) -> AutoResult:
    """Train the plan's candidates in order within its limit; the winner's model becomes ``run_dir``'s.
    ``clock`` and ``trainer`` (core.training.trainer.train's signature) are seams for tests."""
    from core.training.trainer import check_run_dir, train
    learn = trainer is None and clock is time.monotonic  # a simulated run teaches nothing about this computer
    trainer = trainer or train
    cb = callback or CompareCallback()
    run_dir = Path(run_dir)
    check_run_dir(run_dir, scan.root, overwrite)
    started = clock()
    deadline = started + auto_plan.limit_s
    rows: list[dict] = []
    results: dict[str, object] = {}
    cancelled = False
    for index, candidate in enumerate(auto_plan.candidates):
        row = {"name": candidate.name, "title": candidate.title, "predicted_s": candidate.predicted_s}
        rows.append(row)
        left = deadline - clock()
        perfect = next((r for r in rows if r.get("val_accuracy") == 1.0), None)
        if perfect is not None and not (cancel is not None and cancel.cancelled):  # a tie keeps the earlier
            # candidate (_winner): no later one can win (after Cancel, the trainer says so as before)
            row.update(status="skipped", reason=f"{perfect['title']} already scored 100% on the validation images")
            continue
        if candidate.name != "fine-tune" and candidate.predicted_s > left:
            row.update(status="skipped", reason=f"not enough time left ({max(0.0, left):.0f} s)")
            continue
        cb.on_candidate_start(index, len(auto_plan.candidates), candidate.title)
        t0 = clock()
        try:
            result = trainer(scan, candidate.settings, run_dir / CANDIDATES_DIR / candidate.name, cb, cancel,
                             overwrite=True, deadline=_wall_deadline(deadline, clock))
        except Cancelled:
            row.update(status="cancelled", seconds=clock() - t0)
            cancelled = True
            break
        except TransferLabError as exc:
            row.update(status="failed", reason=str(exc).splitlines()[0], seconds=clock() - t0)
            cb.on_candidate_end(row)
            continue
        results[candidate.name] = result
        stopped = getattr(result, "cancelled", False)  # Cancel during fine-tuning: its best epoch still counts
        row.update(status="cancelled" if stopped else "done", seconds=clock() - t0,
                   val_accuracy=result.best_val_accuracy, val_loss=result.best_val_loss, epochs=len(result.history),
                   stopped_early=result.stopped_early)
        cb.on_candidate_end(row)
        if stopped:
            cancelled = True
            break
        if learn:  # a run whose time is mostly a classifier's fit tells this computer's fit speed, fine-tuning its step's
            learn_fit_speed(candidate.predicted_s, candidate.fit_s, candidate.fit_factor, row["seconds"])
            if candidate.step is not None:
                learn_step_speed(candidate.step, result.history, candidate.settings.head_epochs)
    if not results:
        if cancelled:
            raise Cancelled()
        raise TransferLabError("No candidate finished: " + "; ".join(
            f"{r['title']}: {r.get('reason', r.get('status'))}" for r in rows))
    from core.data.dataset import make_split
    first = auto_plan.candidates[0].settings
    winner = _winner(results, len(make_split(scan, first.val_fraction, first.seed).val))
    for row in rows:
        row["winner"] = row["name"] == winner
    summary = {**auto_plan.to_dict(), "rows": rows, "winner": winner, "seconds": clock() - started,
               "cancelled": cancelled}
    _install(run_dir, run_dir / CANDIDATES_DIR / winner, summary)
    cb.on_status(f"Kept: {next(r['title'] for r in rows if r['winner'])} "
                 f"(validation accuracy {results[winner].best_val_accuracy:.1%})")
    best = results[winner]
    return AutoResult(run_dir, best.best_epoch, best.best_val_accuracy, best.best_val_loss, best.history,
                      best.stopped_early, cancelled, rows, winner)


def trained(rows: list[dict]) -> list[dict]:
    """The candidates of an Auto run (its rows) that finished training: those with a validation accuracy."""
    return [r for r in rows if "val_accuracy" in r]


def _wall_deadline(deadline: float, clock: Callable[[], float]) -> float:
    """The deadline on time.monotonic()'s scale (the trainer's clock), whatever ``clock`` is."""
    return time.monotonic() + (deadline - clock())


def _winner(results: dict, val_images: int) -> str:
    """The candidate with the highest validation accuracy, where a later, costlier one must be right on at
    least two more of the ``val_images`` validation images than the one kept: a tie, or one image, keeps
    the earlier (one image is no evidence: on 39 validation photo crops Best's fine-tuning won by one,
    97.4% against 94.9%, and scored 70.8% on new images against the classifier's 78.5%; a lower validation
    loss alone did not carry over to new images either)."""
    best = None
    for name, result in results.items():  # in the order they were tried
        accuracy = result.best_val_accuracy if result.best_val_accuracy == result.best_val_accuracy else -1.0
        if best is None or (accuracy - best[1]) * max(1, val_images) > 1.5:
            best = (name, accuracy)
    return best[0]


def _install(run_dir: Path, winner_dir: Path, summary: dict) -> None:
    """The winner's bundle and run record become the run folder's; the summary is written beside them
    and into the bundle's metadata; the other candidates' folders are removed."""
    import json

    from core.models.bundle import META_FILE, WEIGHTS_FILE
    from core.training.runs import RUN_FILE
    for name in (WEIGHTS_FILE, RUN_FILE):
        if (winner_dir / name).exists():
            shutil.copy2(winner_dir / name, run_dir / name)
    meta = json.loads((winner_dir / META_FILE).read_text(encoding="utf-8"))
    meta["auto"] = summary
    atomic_write_json(run_dir / AUTO_FILE, summary)
    atomic_write_json(run_dir / META_FILE, meta)
    shutil.rmtree(run_dir / CANDIDATES_DIR, ignore_errors=True)


def time_for_plans(scan, base: TrainSettings, suggestion, fine_tune: bool = True) -> None:
    """Time this computer on the user's images (a few seconds) and keep the speeds and split sizes in
    ``suggestion.extra``, so :func:`plan_for` can plan any budget without torch (only Fast when
    ``fine_tune`` is False: the training step is then not timed, a second saved)."""
    from core.data.dataset import make_split
    split = make_split(scan, base.val_fraction, base.seed)
    many = len(split.train) + len(split.val) >= MANY_IMAGES  # the run is long: a steadier timing pays
    # the earlier level is not timed: the final pass caches its features too (a plan without that pass
    # charges the earlier candidate a full pass at the final one's speed, an upper bound)
    looked = suggestion.measurements.seconds_per_image
    depth = _fine_tune_settings(suggestion)["freeze_depth"]
    if not fine_tune and looked > 0:  # Fast: the advisor's pass ran the network as the feature cache will
        speeds = Speeds(forward=looked, train_step=0.0)
    else:
        speeds = measure_speeds(base, [i.path for i in split.train[:8]], depth=depth, train_step=fine_tune,
                                repeats=6 if many else 4,  # the pass over the user's images, decoding included,
                                forward_s=looked if looked > 0 else None)  # is steadier than a few timed batches
    step = steadier_step(speeds.train_step, step_key(base, depth)) if fine_tune else None  # and finished runs'
    suggestion.extra["speeds"] = {"forward": speeds.forward, "train_step": step,
                                  "earlier": speeds.earlier, "decode": speeds.decode, "fit_factor": fit_factor()}
    suggestion.extra["split_sizes"] = [len(split.train), len(split.val)]


def plan_for(suggestion, base: TrainSettings, budget: str = DEFAULT_BUDGET) -> Plan:
    """The plan of ``budget`` for a suggestion timed by :func:`time_for_plans`."""
    speeds = suggestion.extra.get("speeds")
    if speeds is None or (speeds["train_step"] is None and parse_budget(budget) != "fast"):
        raise TransferLabError("Auto needs the speed of this computer: measure the images again")
    train_images, val_images = suggestion.extra["split_sizes"]
    return plan(suggestion, base, Speeds(**{**speeds, "train_step": speeds["train_step"] or 0.0}), train_images,
                val_images, budget)


def prepare_plan(scan, base: TrainSettings, suggestion, budget: str = DEFAULT_BUDGET) -> Plan:
    """Time this computer on the user's images and plan the budget."""
    time_for_plans(scan, base, suggestion, fine_tune=parse_budget(budget) != "fast")
    return plan_for(suggestion, base, budget)


def auto_train(scan, base: TrainSettings, run_dir: Path, budget: str = DEFAULT_BUDGET,
               callback: CompareCallback | None = None, cancel=None, overwrite: bool = False, progress=None):
    """Everything "Auto" does, for the CLI and the benchmark: advise, time, plan, run.
    Returns (suggestion, plan, result)."""
    from core.methods.advisor import advise
    suggestion = advise(scan, base, progress, cancel, probe=False)
    auto_plan = prepare_plan(scan, base, suggestion, budget)
    return suggestion, auto_plan, run_auto(scan, auto_plan, run_dir, callback, cancel, overwrite)
