"""Fine-tuning variants on tiny real runs: two-stage fine-tuning (with gradual unfreezing, resumed
exactly), L2-SP, the learning-rate range test and training from scratch.

"Pretrained" weights here are a fixed random initialisation of timm's tiny ``test_efficientnet``,
imported as a weights file: the runs are about where weights start from, not about ImageNet."""

import json
import math
from dataclasses import replace

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from core.base.cancel import CancelToken
from core.base.errors import Cancelled, TransferLabError
from core.data.dataset import make_split, scan_dataset
from core.methods.lr_finder import find_learning_rate, suggest
from core.models.bundle import META_FILE, WEIGHTS_FILE
from core.models.network import layer_groups
from core.training.events import TrainCallback
from core.training.regularizers import L2SP
from core.training.run_setup import build_optimizer, build_run
from core.training.settings import TrainSettings
from core.training.trainer import CHECKPOINT_FILE, resume_training, train
from tests.datagen import make_class_folder, tree_fingerprint
from tests.test_resume import Boom, DieInEpoch, _strip

CLASSES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_class_folder(tmp_path_factory.mktemp("d") / "shapes", CLASSES, per_class=10, size=48)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A weights file standing in for pretrained weights: (path, backbone state)."""
    torch.manual_seed(123)
    state = timm.create_model("test_efficientnet", pretrained=False).state_dict()
    path = tmp_path_factory.mktemp("w") / "start.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path, state


@pytest.fixture(scope="module")
def base(pretrained):
    return TrainSettings(model_name="test_efficientnet", weights_file=str(pretrained[0]), image_size=48, batch_size=8,
                         epochs=3, augmentation="none", strategy="fine-tune-all", freeze_depth=6, head_lr=1e-2,
                         backbone_lr=3e-3)


@pytest.fixture(scope="module")
def plain_run(data, base, tmp_path_factory):
    """Plain fine-tuning of everything from the imported weights, shared by several tests."""
    return train(scan_dataset(data), base, tmp_path_factory.mktemp("runs") / "plain")


def _backbone(run_dir) -> dict:
    return {k.removeprefix("backbone."): v for k, v in load_file(str(run_dir / WEIGHTS_FILE)).items()
            if k.startswith("backbone.")}


def _distance(state: dict, reference: dict, names) -> float:
    return math.sqrt(sum(float((state[n].float() - reference[n].float()).pow(2).sum()) for n in names))


class Snapshots(TrainCallback):
    """The checkpoint's model state at the end of every epoch."""

    def __init__(self, run_dir):
        self.run_dir, self.states = run_dir, {}

    def on_epoch_end(self, event):
        self.states[event.epoch] = torch.load(self.run_dir / CHECKPOINT_FILE, weights_only=True)["model"]


# --- two-stage fine-tuning --------------------------------------------------------------------------------


def test_two_stage_trains_the_head_first_then_unfreezes_one_group_per_epoch(data, base, pretrained, tmp_path):
    settings = replace(base, strategy="fine-tune-top", freeze_depth=2, epochs=4, two_stage=True, head_epochs=1,
                       gradual_unfreeze=True)
    split = make_split(scan_dataset(data), settings.val_fraction, settings.seed)
    initial_head = build_run(settings, CLASSES, split.train, split.val, TrainCallback(), None).net.head.weight.detach()
    snaps = Snapshots(tmp_path / "run")
    result = train(scan_dataset(data), settings, tmp_path / "run", snaps)
    assert [(e["stage"], e["trainable_groups"]) for e in result.history] == \
        [("head", 0), ("fine-tune", 1), ("fine-tune", 2), ("fine-tune", 2)]
    groups = layer_groups(timm.create_model("test_efficientnet"))
    top, second, frozen = groups[-1].param_names, groups[-2].param_names, [n for g in groups[:-2] for n in g.param_names]
    _, start = pretrained
    changed = lambda state, names: [n for n in names if not torch.equal(state[f"backbone.{n}"], start[n])]  # noqa: E731
    # Stage 1: the backbone is exactly the pretrained one, the head has learnt.
    assert changed(snaps.states[1], top + second) == []
    assert not torch.equal(snaps.states[1]["head.weight"], initial_head)
    # Epoch 2 fine-tunes only the top group, epoch 3 the next one too.
    assert changed(snaps.states[2], top) and changed(snaps.states[2], second) == []
    assert changed(snaps.states[3], second)
    # The groups below freeze_depth never change, BatchNorm statistics included.
    saved = load_file(str(tmp_path / "run" / WEIGHTS_FILE))
    assert all(torch.equal(saved[f"backbone.{n}"], start[n]) for n in frozen)
    assert torch.equal(saved["backbone.bn1.running_mean"], start["bn1.running_mean"])


@pytest.mark.parametrize("augmentation", ["none", "light"])
def test_a_two_stage_run_resumed_between_and_within_stages_ends_like_an_uninterrupted_one(data, base, tmp_path,
                                                                                          augmentation):
    # "none": cached features, then the freeze-boundary cache; "light": augmented feature views, then decoded images.
    settings = replace(base, strategy="fine-tune-top", freeze_depth=2, epochs=4, two_stage=True, head_epochs=1,
                       gradual_unfreeze=augmentation == "none", augmentation=augmentation, l2sp_alpha=0.1)
    whole = train(scan_dataset(data), settings, tmp_path / "whole")
    cut = tmp_path / "cut"
    with pytest.raises(Boom):  # killed in the first fine-tuning epoch: resumes from the end of stage 1
        train(scan_dataset(data), settings, cut, DieInEpoch(2))
    with pytest.raises(Boom):  # killed again in the middle of stage 2
        resume_training(cut, DieInEpoch(4))
    assert torch.load(cut / CHECKPOINT_FILE, weights_only=True)["epoch"] == 3
    resumed = resume_training(cut)
    assert _strip(resumed.history) == _strip(whole.history)
    assert torch.equal(load_file(str(cut / WEIGHTS_FILE))["backbone.conv_head.weight"],
                       load_file(str(tmp_path / "whole" / WEIGHTS_FILE))["backbone.conv_head.weight"])


def test_lp_ft_starts_fine_tuning_from_a_classifier_fitted_to_convergence(data, base, pretrained, tmp_path):
    from core.methods.pooled_features import extract
    from core.models.preprocess import preprocessing_for
    from core.models.weights import create_backbone
    from core.training.linear_head import fit_linear
    settings = replace(base, strategy="fine-tune-top", freeze_depth=2, epochs=3, two_stage=True, head_epochs=1,
                       lp_ft=True, augmentation="light")
    snaps = Snapshots(tmp_path / "run")
    result = train(scan_dataset(data), settings, tmp_path / "run", snaps)
    assert [e["stage"] for e in result.history] == ["head", "fine-tune", "fine-tune"]
    _, start = pretrained
    top = layer_groups(timm.create_model("test_efficientnet"))[-1].param_names
    assert all(torch.equal(snaps.states[1][f"backbone.{n}"], start[n]) for n in top)
    # Stage 1 is one converged fit of the head on the frozen backbone's evaluation-crop features: it
    # scores the training images as core.training.linear_head's fit on those features does.
    model = create_backbone("test_efficientnet", weights_file=str(pretrained[0])).model
    split = make_split(scan_dataset(data), settings.val_fraction, settings.seed)
    features = extract(model, split.train, preprocessing_for(model, 48))
    x, y = torch.as_tensor(features.final), torch.as_tensor(features.labels)
    fit = fit_linear(x, y, len(CLASSES), seed=0)
    head = snaps.states[1]
    stage_one = x.double() @ head["head.weight"].T.double() + head["head.bias"].double()
    reference = torch.as_tensor(fit.logits(x))
    assert torch.allclose(stage_one.softmax(1), reference.softmax(1), atol=0.02)
    assert result.history[0]["train_accuracy"] == float((reference.argmax(1) == y).float().mean())
    assert any(not torch.equal(snaps.states[3][f"backbone.{n}"], start[n]) for n in top)  # then fine-tuned


def test_settings_that_make_no_sense_are_refused_with_a_reason(base):
    cases = [
        (dict(strategy="feature-extraction", freeze_depth=0, two_stage=True), "fine-tune-top or fine-tune-all"),
        (dict(two_stage=True, head_epochs=3), "head epochs must be between 1 and 2"),
        (dict(two_stage=True, freeze_depth=0), "at least one backbone layer group"),
        (dict(gradual_unfreeze=True), "turn two-stage on"),
        (dict(strategy="feature-extraction", freeze_depth=0, l2sp_alpha=0.1), "fine-tune strategy"),
        (dict(weights="none", weights_file=None, l2sp_alpha=0.1), "pretrained weights"),
        (dict(weights="none", weights_file=None, strategy="feature-extraction", freeze_depth=0), "from scratch"),
        (dict(weights="none", weights_file=None, strategy="truncated", freeze_depth=0), "from scratch"),
        (dict(l2sp_beta=-1.0), "0 or more"),
        (dict(lp_ft=True), "LP-FT .* two-stage"),
        (dict(lp_ft=True, two_stage=True, head_epochs=1, speedups=False), "speed-ups"),
    ]
    for changes, message in cases:
        with pytest.raises(TransferLabError, match=message):
            replace(base, **changes).validate()
    replace(base, l2sp_beta=1e-3, strategy="feature-extraction", freeze_depth=0).validate()  # an L2 head is fine


# --- L2-SP ------------------------------------------------------------------------------------------------


def test_l2sp_keeps_the_backbone_closer_to_the_pretrained_weights(data, base, pretrained, plain_run, tmp_path):
    conservative = train(scan_dataset(data), replace(base, l2sp_alpha=3.0), tmp_path / "l2sp")
    _, start = pretrained
    names = [n for g in layer_groups(timm.create_model("test_efficientnet")) for n in g.param_names]
    last = lambda run: {k.removeprefix("backbone."): v for k, v in  # noqa: E731 - the weights after the last epoch
                        torch.load(run.run_dir / CHECKPOINT_FILE, weights_only=True)["model"].items()}
    free, kept = _distance(last(plain_run), start, names), _distance(last(conservative), start, names)
    assert kept < 0.5 * free, (kept, free)  # measured: 0.74 against 2.56
    assert conservative.history[-1]["l2sp_distance"] == pytest.approx(kept, rel=1e-4)
    best = conservative.history[conservative.best_epoch - 1]  # the history says what the bundle holds
    assert best["l2sp_distance"] == pytest.approx(_distance(_backbone(conservative.run_dir), start, names), rel=1e-4)
    assert best["l2sp_penalty"] == pytest.approx(1.5 * best["l2sp_distance"] ** 2, rel=1e-4)
    assert conservative.history[-1]["train_loss"] < 0.5 * conservative.history[0]["train_loss"]  # it still learns
    assert "l2sp_distance" not in plain_run.history[0]


def test_l2sp_with_alpha_near_zero_trains_like_plain_fine_tuning(data, base, tmp_path):
    # Weight decay off in both: L2-SP turns it off on the backbone, and that alone would differ.
    plain = train(scan_dataset(data), replace(base, weight_decay=0.0, epochs=2), tmp_path / "a")
    faint = train(scan_dataset(data), replace(base, weight_decay=0.0, epochs=2, l2sp_alpha=1e-30), tmp_path / "b")
    for a, b in zip(plain.history, faint.history, strict=True):
        for key in ("train_loss", "val_loss", "val_accuracy"):
            assert a[key] == pytest.approx(b[key], abs=1e-6)
    assert faint.history[-1]["l2sp_distance"] > 0


def test_l2sp_penalty_pulls_towards_the_starting_point_and_spares_it_weight_decay(data, base):
    items = scan_dataset(data).all_items()
    run = build_run(replace(base, l2sp_alpha=0.5, l2sp_beta=0.2), CLASSES, items, [], TrainCallback(), None)
    net, penalty = run.net, run.regularizer
    assert isinstance(penalty, L2SP) and penalty.distance() == 0.0
    assert {g["name"]: g["weight_decay"] for g in run.optimizer.param_groups} == {"head": base.weight_decay,
                                                                                "backbone": 0.0}
    assert {g["name"]: g["weight_decay"] for g in build_optimizer(net, base).param_groups} == \
        {"head": base.weight_decay, "backbone": base.weight_decay}
    conv = net.backbone.conv_head.weight
    with torch.no_grad():
        conv.add_(0.1)
    head = sum(float(p.detach().pow(2).sum()) for p in net.head.parameters())
    value = penalty.penalty()
    assert value.item() == pytest.approx(0.5 * 0.5 * 0.01 * conv.numel() + 0.5 * 0.2 * head, rel=1e-4)
    value.backward()
    assert torch.allclose(conv.grad, torch.full_like(conv, 0.05), atol=1e-6)  # alpha * (w - w0)
    assert penalty.distance() == pytest.approx(0.1 * conv.numel() ** 0.5, rel=1e-4)


# --- learning-rate finder ---------------------------------------------------------------------------------


def test_lr_finder_sweeps_upwards_and_its_suggestion_trains(data, tmp_path):
    settings = TrainSettings(image_size=48, batch_size=8, epochs=3, augmentation="none")
    before = tree_fingerprint(data)
    calls = []
    found = find_learning_rate(scan_dataset(data), settings, num_steps=60, progress=lambda *a: calls.append(a))
    assert len(found.lrs) == len(found.losses) == 60 and not found.stopped_early
    assert all(b > a for a, b in zip(found.lrs, found.lrs[1:]))
    assert found.lrs[0] == pytest.approx(1e-7) and found.lrs[-1] == pytest.approx(1.0)
    assert math.isfinite(found.suggestion) and found.lrs[0] <= found.suggestion <= found.lrs[-1]
    assert found.backbone_suggestion == pytest.approx(found.suggestion * settings.backbone_lr / settings.head_lr)
    assert found.reason and json.dumps(found.to_dict())
    assert calls[-1][:2] == (60, 60) and tree_fingerprint(data) == before
    trained = train(scan_dataset(data), found.apply(settings), tmp_path / "run")
    assert trained.history[-1]["train_loss"] < trained.history[0]["train_loss"]
    assert trained.best_val_accuracy >= 0.8


def test_lr_finder_stops_when_the_loss_diverges(data, base):
    found = find_learning_rate(scan_dataset(data), base, num_steps=60, start_lr=1e-4, end_lr=1e4)
    assert found.stopped_early and len(found.lrs) < 60
    assert found.lrs[0] <= found.suggestion <= found.lrs[-1] < 1e4


def test_lr_finder_can_be_cancelled(data, base):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        find_learning_rate(scan_dataset(data), base, cancel=token)


def test_suggestion_is_in_the_valley_or_the_fallback():
    lrs = [10 ** (-6 + i / 10) for i in range(50)]
    valley = [2.0 - 0.03 * i if i < 40 else 0.8 + 0.5 * (i - 40) for i in range(50)]
    lr, reason = suggest(lrs, valley, fallback=1e-3)
    assert lrs[20] <= lr <= lrs[30] and "valley" in reason
    lr, reason = suggest(lrs, [1.0] * 50, fallback=1e-3)
    assert lr == 1e-3 and "did not clearly fall" in reason


# --- from scratch -----------------------------------------------------------------------------------------


def test_training_from_scratch_is_recorded_and_differs_from_pretrained(data, base, plain_run, tmp_path):
    scratch = train(scan_dataset(data), replace(base, weights="none", weights_file=None), tmp_path / "scratch")
    meta = json.loads((tmp_path / "scratch" / META_FILE).read_text())
    assert meta["weights"] == "none" and meta["settings"]["weights"] == "none"
    assert "random" in meta["weights_source"]
    pretrained_meta = json.loads((plain_run.run_dir / META_FILE).read_text())
    assert pretrained_meta["weights"] == "pretrained" and "imported" in pretrained_meta["weights_source"]
    assert not torch.equal(_backbone(scratch.run_dir)["conv_stem.weight"], _backbone(plain_run.run_dir)["conv_stem.weight"])
