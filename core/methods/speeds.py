"""How fast this computer is on the user's images: what "Auto" plans its time budget from
(core.methods.auto_search). A few seconds of timing before anything trains; no training happens here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from core.training.settings import TrainSettings


@dataclass(frozen=True)
class Speeds:
    """Seconds per image on this computer: a frozen forward pass (decoding included) and a
    fine-tuning step (forward and backward at the candidate's depth)."""

    forward: float
    train_step: float  # an augmented image from memory through a training step
    earlier: float | None = None  # a forward pass up to the earlier layer only (None: as ``forward``)
    decode: float = 0.0  # reading and resizing one image (fine-tuning pays it once per image)
    fit_factor: float = 1.0  # this computer's classifier fits take this many times the reference's (fit_factor())


# A classifier's fit is a few hundred small float64 steps, whose speed differs between computers far more than the
# network's (memory bandwidth and one core's speed: 2-4x between two 2-core cloud machines). It is timed on a
# small fixed problem, once per computer, against REFERENCE_FIT_S: that fit's seconds on the computer the fit
# constants of core.methods.auto_search were measured on (a 2-core AMD EPYC without bf16, 2026-12-04). One timing
# can catch a busy moment (here 0.58x in one run, 0.90x in the next), so Auto's finished classifier runs add
# what they saw (observe_fit_factor) and the factor is the median of the timing and the latest FIT_OBSERVED_KEPT.
FIT_PROBE = (120, 256, 4)  # rows, dimensions, classes
REFERENCE_FIT_S = 0.15
FIT_FILE = "fit-speed.json"
FIT_OBSERVED_KEPT = 15
MIN_FIT_TO_LEARN_S = 0.3  # a shorter classifier fit is too noisy to learn this computer's fit speed from
_FIT_SEEN: dict[str, dict] = {}  # per computer key: {"probe": seconds, "observed": [factors]}


# A classifier candidate on cached features: its run's set-up and saving, then the cross-validated fit and
# refit, whose L-BFGS steps cost about rows x classes, up to FIT_GROWS_TO (more rows than dimensions, and 3
# folds from 600 rows: the fits need fewer steps). In reference seconds (the computer of REFERENCE_FIT_S;
# scaled by Speeds.fit_factor), measured 2026-12-06 after cross-validation's fits were capped at
# linear_head.CV_MAX_ITER steps, as the whole "both" candidate (timed on a computer at fit factor 0.64, divided
# by it): 0.8 s for 120-160 images of 2-3 classes, 1.1-1.5 s for 195-200 of 10-13, about 4.5 s of fit for
# 1,497 of 10; the earlier level's narrower features take about a third of the fixed part and little per row
CANDIDATE_SET_UP_S = 0.15
FIT_SECONDS = 0.35
FIT_SECONDS_PER_ROW_CLASS = 2.5e-4  # final features (and the earlier level's beside them)
EARLIER_FIT_SECONDS = 0.22
EARLIER_FIT_SECONDS_PER_ROW_CLASS = 2e-5
FIT_GROWS_TO = 16_000  # rows x classes
# "I don't know" (core.models.unknown_score), fitted by every run: cross-validated on at most MAX_SPREAD_IMAGES
# images (the earlier level's 112 numbers cost next to nothing). About 0.3 reference s for 200 images, 0.65 from 500
UNKNOWN_FIT_SECONDS, UNKNOWN_FIT_PER_IMAGE = 0.05, 1.2e-3


def fit_seconds(images: int, classes: int, earlier: bool = False, factor: float = 1.0) -> float:
    """Predicted seconds of a classifier candidate on cached features of ``images`` (its fit and refit,
    with the run's set-up): on the final features (with the earlier level's beside them), or on the earlier
    level's alone; ``factor``: this computer's fit speed against the reference (fit_factor)."""
    fixed, per = (EARLIER_FIT_SECONDS, EARLIER_FIT_SECONDS_PER_ROW_CLASS) if earlier else \
        (FIT_SECONDS, FIT_SECONDS_PER_ROW_CLASS)
    from core.models.unknown_score import MAX_SPREAD_IMAGES  # torch: not at import (the window imports this)
    unknown = 0.0 if earlier else UNKNOWN_FIT_SECONDS + UNKNOWN_FIT_PER_IMAGE * min(images, MAX_SPREAD_IMAGES)
    return factor * (CANDIDATE_SET_UP_S + fixed + unknown + per * min(images * max(2, classes), FIT_GROWS_TO))


def fit_factor() -> float:
    """How many times the reference computer's time this one takes to fit a classifier (remembered per
    computer and library version in core.base.paths.computer_dir(); measured in about a second otherwise)."""
    import statistics
    entry = _fit_entry()[1]
    timed = entry["probe"] / REFERENCE_FIT_S
    seen = entry["observed"] if len(entry["observed"]) >= 2 else []  # one run alone does not outvote the timing
    return _clamped(statistics.median([timed, *seen]))


def _clamped(factor: float) -> float:
    return max(0.25, min(8.0, factor))


def observe_fit_factor(factor: float) -> None:
    """A classifier fit of a real run took ``factor`` times what it takes on the reference computer."""
    key, entry = _fit_entry()
    if not _usable(factor):
        return
    timed = entry["probe"] / REFERENCE_FIT_S  # a run on a sleeping or swamped computer counts as 3x off at most
    entry["observed"] = [*entry["observed"], _clamped(min(3 * timed, max(timed / 3, factor)))][-FIT_OBSERVED_KEPT:]
    _save_fit_entry(key, entry)


def learn_fit_speed(predicted_s: float, fit_s: float, factor: float, seconds: float) -> None:
    """A run predicted at ``predicted_s``, of which ``fit_s`` a classifier's fit at ``factor``, took ``seconds``:
    when the fit is most of it, what it took (the network's pass, predicted apart, taken off) is observed."""
    passing = predicted_s - fit_s
    if fit_s >= MIN_FIT_TO_LEARN_S and passing <= 0.5 * fit_s and seconds > passing:
        observe_fit_factor(factor * (seconds - passing) / fit_s)


def _computer_key() -> str:
    """This computer and library version, as the speeds it has shown are remembered under."""
    import os
    import platform

    import torch
    return "|".join([platform.platform(), platform.processor() or _cpu_name(), str(os.cpu_count()),
                     str(torch.get_num_threads()), torch.__version__])


def _fit_entry() -> tuple[str, dict]:
    import json

    from core.base.paths import computer_dir
    key = _computer_key()
    if key not in _FIT_SEEN:
        try:
            entry = json.loads((computer_dir() / FIT_FILE).read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            entry = None
        if isinstance(entry, (int, float)):  # written before observations were kept: the timing alone
            entry = {"probe": float(entry), "observed": []}
        if isinstance(entry, dict) and isinstance(entry.get("observed"), list):  # keep only usable numbers
            entry["observed"] = [v for v in entry["observed"] if _usable(v)]
        if not (isinstance(entry, dict) and _usable(entry.get("probe")) and isinstance(entry.get("observed"), list)):
            entry = {"probe": _time_fit(), "observed": []}
            _save_fit_entry(key, entry)
        _FIT_SEEN[key] = entry
    return key, _FIT_SEEN[key]


def _usable(value) -> bool:
    import math
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _save_fit_entry(key: str, entry: dict) -> None:
    _save_entry(FIT_FILE, key, entry)


def _save_entry(name: str, key: str, entry) -> None:
    """``entry`` under ``key`` in the computer folder's file ``name``, the other keys kept."""
    import json

    from core.base.atomic import atomic_write_json
    from core.base.paths import computer_dir
    path = computer_dir() / name
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    try:
        atomic_write_json(path, {**(known if isinstance(known, dict) else {}), key: entry})
    except OSError:  # a read-only cache: measured again next time
        pass


# A fine-tuning step is timed in a few seconds on random images at batch 16 (measure_speeds). One timing can catch
# a busy or an idle moment: three plans on one computer (2026-12-06, digits, all layers) timed 0.031, 0.031 and
# 0.036 s per image, while their fine-tuning epochs took 0.034-0.036 (on a machine shared with others, one such
# timing was 45% over). So a finished fine-tuning run records what its epochs took per image (learn_step_speed),
# and a plan takes the median of its own timing and the latest STEP_OBSERVED_KEPT records for the same model,
# size, depth and settings (steadier_step).
STEP_FILE = "step-speed.json"
STEP_OBSERVED_KEPT = 4


@dataclass(frozen=True)
class StepPlan:
    """What a fine-tuning candidate's plan assumed of its epochs, for the run to check against when it ends."""

    key: str  # step_key
    train_images: int
    other_s: float  # an epoch's planned seconds besides the training steps (the validation images' pass)
    timed: float  # the step speed this plan used, seconds per image (a record is kept within 3x of it)


def step_key(settings: TrainSettings, depth: int | None) -> str:
    """What a fine-tuning step's speed depends on besides the computer: the network, the image size, how many
    layer groups train (None: all), the batch and the compute plan."""
    import os
    return "|".join(map(str, [settings.model_name, settings.image_size, depth, settings.batch_size, settings.device,
                              settings.precision, settings.speedups, os.environ.get("TRANSFERLAB_CPU_BF16", "")]))


def steadier_step(timed: float, key: str) -> float:
    """A plan's step speed: the median of this timing and what finished runs with ``key`` took on this computer."""
    import statistics
    seen = _step_records().get(key, [])[-STEP_OBSERVED_KEPT:]
    return statistics.median([timed, *seen]) if _usable(timed) and seen else timed


def learn_step_speed(step: StepPlan, history: list[dict], head_epochs: int) -> None:
    """A fine-tuning run planned as ``step`` ended with ``history``: its fine-tuning epochs' median length, the
    planned validation pass taken off, per training image, is recorded for later plans."""
    import statistics
    seconds = [h["seconds"] for h in history if h.get("epoch", 0) > head_epochs and _usable(h.get("seconds"))]
    if not seconds or step.train_images <= 0 or not _usable(step.timed):
        return
    per_image = (statistics.median(seconds) - step.other_s) / step.train_images
    if not _usable(per_image):
        return
    records = _step_records()
    value = min(3 * step.timed, max(step.timed / 3, per_image))  # a swamped or sleeping computer: 3x off at most
    _save_entry(STEP_FILE, _computer_key(), {**records, step.key: [*records.get(step.key, []), value][
        -STEP_OBSERVED_KEPT:]})


def _step_records() -> dict[str, list[float]]:
    """This computer's recorded step speeds by step_key (only usable numbers)."""
    import json

    from core.base.paths import computer_dir
    try:
        entry = json.loads((computer_dir() / STEP_FILE).read_text(encoding="utf-8")).get(_computer_key())
    except (OSError, ValueError, AttributeError):
        entry = None
    if not isinstance(entry, dict):
        return {}
    return {k: [v for v in values if _usable(v)] for k, values in entry.items() if isinstance(values, list)}


def _time_fit(repeats: int = 8) -> float:
    """The fastest of ``repeats`` fits of FIT_PROBE's seeded problem (strength chosen by cross-validation, as a
    run does), after one that warms up."""
    import numpy as np

    from core.training.linear_head import fit_linear
    rows, dims, classes = FIT_PROBE
    rng = np.random.default_rng(0)
    y = np.arange(rows) % classes
    x = rng.standard_normal((rows, dims)).astype(np.float32)
    x[np.arange(rows), y] += 3.0
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        fit_linear(x, y, classes)
        times.append(time.perf_counter() - t0)
    return min(times[1:])


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


def measure_speeds(settings: TrainSettings, paths: list[Path], batch: int = 16, cut: int | None = None,
                   depth: int | None = None, train_step: bool = True, repeats: int = 3,
                   forward_s: float | None = None) -> Speeds:
    """Seconds per image on this computer, timed: decoding and resizing a few of the user's images,
    and the network's forward pass as the feature cache runs it (BatchNorm folded into the convolutions,
    on the run's device and compute plan: channels-last memory is 40% quicker here) and a training step
    of its top ``depth`` layer groups (all when None) on a batch of random images (``repeats`` times
    each; the first warms up, the fastest of the others counts): the backward pass through a few top
    groups costs far less than their share of the groups.
    ``train_step=False`` (a plan without fine-tuning) leaves the training step out: its speed is then 0.
    ``forward_s``: the pass's seconds per image, decoding included, already measured on the user's images (the
    advisor's pass, as the feature cache runs it): that is the forward speed, and it is not timed again."""

    import torch

    from core.data.images import load_rgb
    from core.models.accel import configure_threads, plain_plan, plan_for
    from core.models.clone import clone_module
    from core.models.devices import resolve_device
    from core.models.fold import folded_copy
    from core.models.network import TransferNet, apply_freeze_depth, set_train_mode
    from core.models.preprocess import eval_transform, preprocessing_for
    from core.models.weights import create_backbone
    from core.training.engines import FeatureEncoder
    configure_threads()  # as build_run does
    model = create_backbone(settings.model_name, "none").model
    pp = preprocessing_for(model, settings.image_size)
    transform = eval_transform(pp)
    decode = 0.0
    if paths:
        t0 = time.perf_counter()
        for path in paths[:batch]:
            transform(load_rgb(path))
        decode = (time.perf_counter() - t0) / len(paths[:batch])
    device = resolve_device(settings.device)
    plan = plan_for(device, settings.precision) if settings.speedups else plain_plan(device)
    look = plan.evaluation  # the feature cache runs its folded encoder under the evaluation plan
    probe = torch.randn(2, 3, 64, 64)
    early_encoder = None
    if cut is not None:  # the cut network as its candidate caches it (pruned above the cut, folded)
        early_encoder = look.prepare_module(folded_copy(
            FeatureEncoder(TransferNet(clone_module(model), 2, cut_index=cut)), probe).eval())
    net = TransferNet(model, 2)
    encoder = None if forward_s is not None else look.prepare_module(folded_copy(FeatureEncoder(net), probe).eval())
    if depth is not None:
        apply_freeze_depth(net, depth)
    plan.prepare_module(net)
    x = torch.randn(batch, 3, pp.input_size, pp.input_size)
    seen, trained = look.to_device(x), plan.to_device(x)
    y = torch.zeros(batch, dtype=torch.long, device=trained.device)

    def timed(run) -> float:
        t0 = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        elif device.type == "mps":  # Apple GPUs run asynchronously too
            torch.mps.synchronize()
        return time.perf_counter() - t0

    def look_at(encoder):
        def run():
            with torch.inference_mode(), look.autocast():
                encoder(seen)
        return run

    forward = step = early = float("inf")
    for attempt in range(repeats):  # the first pays for warming up; the fastest of the others is kept
        if encoder is not None:
            seconds = timed(look_at(encoder))
            forward = min(forward, seconds) if attempt else forward
        if early_encoder is not None:
            seconds = timed(look_at(early_encoder))
            early = min(early, seconds) if attempt else early
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1e-6)

    def train():
        optimizer.zero_grad()
        with plan.autocast():
            loss = torch.nn.functional.cross_entropy(net(trained).float(), y)
        loss.backward()
        optimizer.step()

    net.train()
    if depth is not None:
        set_train_mode(net)  # frozen groups' BatchNorm stays in eval mode, as in training
    for attempt in range(repeats if train_step else 0):  # after the forward passes, as training follows caching
        seconds = timed(train)
        step = min(step, seconds) if attempt else step
    # fine-tuning decodes each image once and keeps it in memory; an epoch then augments (about half a
    # decode) and steps
    return Speeds(forward_s if forward_s is not None else decode + forward / batch,
                  0.5 * decode + step / batch if train_step else 0.0,
                  decode + early / batch if cut is not None else None, decode)
