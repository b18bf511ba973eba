"""Every speed-up gives the same results, within tolerance, as the plain PyTorch path."""

import json
from dataclasses import replace

import pytest
import torch

from core.base.cancel import CancelToken
from core.base.errors import Cancelled
from core.data.dataset import scan_dataset
from core.evaluation.predict import predict
from core.models.accel import ComputePlan, cpu_has_native_bf16, plain_plan, plan_for
from core.models.bundle import META_FILE, load_bundle
from core.models.network import TransferNet, apply_freeze_depth, layer_groups
from core.models.preprocess import Preprocessing, cached_eval_crop, eval_transform, normalize_batch, resize_size
from core.models.trunk import FrozenPrefix, TrainableTop, split_at_freeze_boundary
from core.models.weights import create_backbone
from core.training.decode_cache import DecodedImages
from core.training.events import Prepare, TrainCallback
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder, make_image, tree_fingerprint
from tests.precision import run_precision, tolerance

CLASSES = ["circles", "squares", "stripes"]
TOL = 2e-4  # channels-last and batched kernels round differently from NCHW, in the last bits


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = make_class_folder(tmp_path_factory.mktemp("d") / "shapes", CLASSES, per_class=10, size=64)
    # Odd shapes and modes: the cached path must crop and convert exactly like the plain one.
    make_image(0, size=90, seed=77).resize((90, 57)).save(root / "circles" / "wide.png")
    make_image(1, size=80, seed=78).convert("L").resize((44, 80)).save(root / "squares" / "tall_grey.png")
    make_image(2, size=70, seed=79).convert("RGBA").save(root / "stripes" / "alpha.png")
    return root


def _predictions(run_dir, data):
    return {r["path"]: r["probabilities"] for r in predict(load_bundle(run_dir), [data])}


def _same_runs(a, b, data, tol=TOL, accuracies=True):
    keys = ("train_loss", "val_loss") + (("train_accuracy", "val_accuracy") if accuracies else ())
    for ea, eb in zip(a.history, b.history, strict=True):
        for k in keys:
            assert ea[k] == pytest.approx(eb[k], abs=tol), k
    pa, pb = _predictions(a.run_dir, data), _predictions(b.run_dir, data)
    assert pa.keys() == pb.keys()
    worst = max(abs(pa[f][c] - pb[f][c]) for f in pa for c in pa[f])
    assert worst < tol, f"probabilities differ by {worst}"


class _BatchLosses(TrainCallback):
    def __init__(self):
        self.losses: list[float] = []

    def on_batch_end(self, event):
        self.losses.append(event.loss)


def _compute(run_dir) -> dict:
    return json.loads((run_dir / META_FILE).read_text())["compute"]


def test_decoded_cache_gives_exactly_the_plain_evaluation_input(data):
    pp = Preprocessing(64, "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 0.875)
    files = sorted(p for p in data.rglob("*.png"))
    cached = DecodedImages(files, resize_size(pp), pp)
    crop, plain = cached_eval_crop(pp), eval_transform(pp)
    from core.data.images import load_rgb
    x_cached = normalize_batch(torch.stack([crop(cached.get(i)) for i in range(len(files))]), pp)
    x_plain = torch.stack([plain(load_rgb(f)) for f in files])
    assert torch.equal(x_cached, x_plain)


def test_decoded_cache_streams_what_does_not_fit_and_skips_unreadable_files(tmp_path, data):
    pp = Preprocessing(32, "bilinear", (0.5,) * 3, (0.5,) * 3, 1.0)
    files = sorted(data.rglob("*.png"))[:5]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    whole = DecodedImages(files + [bad], 32, pp)
    tight = DecodedImages(files + [bad], 32, pp, budget_bytes=2 * 3 * 32 * 32)
    assert whole.cached == 5 and whole.streamed == 0 and whole.get(5) is None
    assert tight.cached < 5 and tight.streamed == 5 - tight.cached and tight.get(5) is None
    assert all(torch.equal(whole.get(i), tight.get(i)) for i in range(5))


def test_channels_last_network_gives_the_same_outputs():
    net = TransferNet(create_backbone("tf_efficientnet_lite0").model, 3).eval()
    x = torch.randn(4, 3, 64, 64)
    with torch.inference_mode():
        plain = net(x)
        plan_for(torch.device("cpu"), "fp32").prepare_module(net)
        fast = net(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(plain, fast, atol=1e-4)


def test_split_at_the_freeze_boundary_composes_to_the_whole_network():
    net = TransferNet(create_backbone("tf_efficientnet_lite0").model, 3)
    apply_freeze_depth(net, 3)
    split = split_at_freeze_boundary(net)
    assert split is not None and split.boundary == "blocks.3"  # 8 groups, the top 3 trained: blocks.4 and up
    net.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(TrainableTop(net, split)(FrozenPrefix(split)(x)), net(x), atol=1e-5)
    apply_freeze_depth(net, 0)
    assert split_at_freeze_boundary(net) is None  # nothing trained above: features are cached whole
    apply_freeze_depth(net, 8)
    assert split_at_freeze_boundary(net) is None  # everything trained: nothing to cache


def test_vit_is_not_split_and_trains_on_the_whole_network():
    import timm
    net = TransferNet(timm.create_model("test_vit", pretrained=False), 2)
    apply_freeze_depth(net, 1)
    assert split_at_freeze_boundary(net) is None


def test_cached_features_train_the_same_classifier_as_the_plain_path(data, tmp_path, cpu_precision):
    settings = TrainSettings(image_size=64, batch_size=8, epochs=3, augmentation="none")
    plain = train(scan_dataset(data), replace(settings, speedups=False), tmp_path / "plain")
    fast = train(scan_dataset(data), settings, tmp_path / "fast")
    assert _compute(fast.run_dir)["cache"] == "features" and _compute(plain.run_dir)["summary"].startswith("plain")
    # Only the classifier trains: features and classifier stay in fp32 under either plan, and so
    # the fp32 tolerance holds on every CPU.
    assert run_precision(fast.run_dir) == "fp32"
    _same_runs(plain, fast, data)


def test_cached_boundary_activations_fine_tune_the_same_top_as_the_plain_path(data, tmp_path, cpu_precision):
    settings = TrainSettings(image_size=64, batch_size=8, epochs=2, augmentation="none", strategy="fine-tune-top",
                             freeze_depth=3, head_lr=1e-4, backbone_lr=1e-5)
    plain_batches, fast_batches = _BatchLosses(), _BatchLosses()
    plain = train(scan_dataset(data), replace(settings, speedups=False), tmp_path / "plain", plain_batches)
    fast = train(scan_dataset(data), settings, tmp_path / "fast", fast_batches)
    assert _compute(fast.run_dir)["cache"] == "boundary"
    assert run_precision(fast.run_dir) == cpu_precision
    first_step = tolerance(cpu_precision, 1e-5)
    assert fast_batches.losses[0] == pytest.approx(plain_batches.losses[0], abs=first_step)  # the same forward pass
    # Kernels in inference mode round differently in the last bits, and Adam's steps follow the sign
    # of near-zero gradients, so later steps drift apart a little (small learning rates keep it small;
    # an accuracy on six validation images could flip on one borderline image, so it is not compared).
    _same_runs(plain, fast, data, tol=tolerance(cpu_precision, 1e-3), accuracies=False)


def test_decoded_images_fine_tune_everything_like_the_plain_path(data, tmp_path, cpu_precision):
    groups = len(layer_groups(create_backbone("test_efficientnet", weights="none").model))
    settings = TrainSettings(model_name="test_efficientnet", weights="none", image_size=64, batch_size=8, epochs=2,
                             augmentation="none", strategy="fine-tune-all", freeze_depth=groups)
    plain = train(scan_dataset(data), replace(settings, speedups=False), tmp_path / "plain")
    fast = train(scan_dataset(data), settings, tmp_path / "fast")
    assert "decoded once" in _compute(fast.run_dir)["summary"] and run_precision(fast.run_dir) == cpu_precision
    # In bf16 a borderline training image can flip (one image moves an accuracy by 4%): the losses
    # and probabilities are compared, not the accuracies.
    _same_runs(plain, fast, data, tol=tolerance(cpu_precision, 1e-3), accuracies=cpu_precision == "fp32")


def test_augmented_feature_views_are_reused_and_spill_to_disk_when_memory_is_short(data, tmp_path):
    settings = TrainSettings(image_size=64, batch_size=8, epochs=3, augmentation="light", seed=3)
    first = train(scan_dataset(data), settings, tmp_path / "a")
    again = train(scan_dataset(data), settings, tmp_path / "b")
    spilled = train(scan_dataset(data), replace(settings, cache_memory_mb=0), tmp_path / "c")
    assert _compute(first.run_dir)["views"] == 3 and not _compute(first.run_dir)["reused"]
    assert _compute(again.run_dir)["reused"]  # the second run skips the backbone entirely
    _same_runs(first, again, data, tol=1e-6)
    _same_runs(first, spilled, data, tol=1e-6)


def test_caches_live_in_the_user_cache_and_the_dataset_is_never_written(data, tmp_path):
    from core.training.feature_cache import features_dir
    before = tree_fingerprint(data)
    train(scan_dataset(data), TrainSettings(image_size=64, epochs=1, augmentation="none", seed=11), tmp_path / "r")
    assert tree_fingerprint(data) == before
    assert any(features_dir().glob("*.npy"))


def test_an_unreadable_training_image_is_skipped_by_the_cached_paths(data, tmp_path):
    import shutil
    root = shutil.copytree(data, tmp_path / "copy")
    scan = scan_dataset(root)
    (root / "circles" / "img_000.png").write_bytes(b"broken after the scan")  # fails only when training reads it
    result = train(scan, TrainSettings(image_size=64, epochs=1, augmentation="none"), tmp_path / "run")
    assert _compute(result.run_dir)["unreadable"] == 1 and result.best_val_accuracy >= 0.5


class _PrepareRecorder(TrainCallback):
    def __init__(self, cancel_at: int | None = None, token: CancelToken | None = None):
        self.events: list[Prepare] = []
        self.cancel_at, self.token = cancel_at, token

    def on_prepare(self, event):
        self.events.append(event)
        if self.cancel_at is not None and len(self.events) >= self.cancel_at:
            self.token.cancel()


def test_caching_reports_progress_and_cancel_stops_it(data, tmp_path):
    rec = _PrepareRecorder()
    train(scan_dataset(data), TrainSettings(image_size=64, epochs=1, augmentation="none", seed=5), tmp_path / "a",
          rec)
    assert rec.events[-1].done == rec.events[-1].total and "features" in rec.events[0].stage
    token = CancelToken()
    rec = _PrepareRecorder(cancel_at=3, token=token)
    with pytest.raises(Cancelled):
        train(scan_dataset(data), TrainSettings(image_size=64, epochs=1, augmentation="none", seed=6),
              tmp_path / "b", rec, cancel=token)
    assert len(rec.events) <= 4



def test_a_run_folds_its_frozen_network_once_for_both_passes_and_leaves_no_hooks_on_it(data, tmp_path, monkeypatch):
    import core.training.feature_cache as feature_cache
    folded = []
    real = feature_cache.folded_copy
    monkeypatch.setattr(feature_cache, "folded_copy", lambda module, probe: folded.append(real(module, probe)) or
                        folded[-1])
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path / "cache"))
    result = train(scan_dataset(data), TrainSettings(image_size=64, epochs=1, augmentation="none", seed=5),
                   tmp_path / "run", cancel=CancelToken())  # a token: each pass hooks Cancel into the network
    assert not _compute(result.run_dir)["reused"] and len(folded) == 1  # training and validation images
    assert not any(m._forward_pre_hooks for m in folded[0].modules())

def test_plans_per_device(cpu_precision):
    cpu = plan_for(torch.device("cpu"))
    assert cpu.channels_last and cpu.precision == cpu_precision == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert plan_for(torch.device("cpu"), "fp32").precision == "fp32"
    assert cpu.evaluation.precision == "fp32" and cpu.evaluation.channels_last
    assert plain_plan(torch.device("cpu")) == ComputePlan(torch.device("cpu"))
    assert plan_for(torch.device("mps")).precision == "fp32"


def test_mixed_precision_fine_tuning_reports_and_predicts_in_fp32(data, tmp_path, cpu_precision):
    """The precision rule: bf16 (where the plan has it) only in fine-tuning steps. The accuracy and
    loss a run reports at its best epoch are what predicting its validation images in fp32 gives."""
    from core.evaluation.predict import evaluate
    settings = TrainSettings(image_size=64, batch_size=8, epochs=2, augmentation="none", strategy="fine-tune-top",
                             freeze_depth=2, head_lr=1e-3, backbone_lr=1e-4, two_stage=False)
    result = train(scan_dataset(data), settings, tmp_path / "run")
    assert run_precision(result.run_dir) == cpu_precision
    assert _compute(result.run_dir)["evaluation_precision"] == "fp32"
    bundle = load_bundle(result.run_dir)
    bundle.meta.pop("calibration", None)  # the history's losses are before calibration
    report = evaluate(bundle, scan_dataset(data))  # the same folder: its held-out validation images
    assert report.split.startswith("val")
    best = next(e for e in result.history if e["epoch"] == result.best_epoch)
    assert report.accuracy == pytest.approx(best["val_accuracy"])
    assert report.loss == pytest.approx(best["val_loss"], abs=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_mixed_precision_fine_tuning_predicts_like_the_cpu(data, tmp_path):
    settings = TrainSettings(image_size=64, batch_size=8, epochs=2, augmentation="none", strategy="fine-tune-all",
                             freeze_depth=8, head_lr=1e-3, backbone_lr=1e-4)
    cpu = train(scan_dataset(data), replace(settings, device="cpu", speedups=False), tmp_path / "cpu")
    gpu = train(scan_dataset(data), replace(settings, device="cuda"), tmp_path / "gpu")
    assert _compute(gpu.run_dir)["precision"] in ("bf16", "fp16")
    pa, pb = _predictions(cpu.run_dir, data), _predictions(gpu.run_dir, data)
    agree = sum(max(pa[f], key=pa[f].get) == max(pb[f], key=pb[f].get) for f in pa) / len(pa)
    assert agree >= 0.9


def test_batchnorm_folding_keeps_the_outputs_and_leaves_the_original_alone():
    from torch import nn

    from core.models.fold import folded_copy
    net = TransferNet(create_backbone("tf_efficientnet_lite0").model, 3).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(3, 3, 64, 64)
    folded = folded_copy(net, torch.randn(2, 3, 64, 64))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.inference_mode():
        assert torch.allclose(folded(x), net(x), atol=1e-4)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_batchnorm_folding_is_not_used_where_it_would_change_the_result():
    from torch import nn

    from core.models.fold import folded_copy

    class ConvOutputReadTwice(nn.Module):  # the BatchNorm's input also feeds a residual sum
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)
            self.bn.running_mean.fill_(0.5)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    model = ConvOutputReadTwice().eval()
    x = torch.randn(2, 3, 8, 8)
    kept = folded_copy(model, x)
    assert isinstance(kept.bn, nn.BatchNorm2d)
    with torch.inference_mode():
        assert torch.allclose(kept(x), model(x))


def test_a_both_levels_run_caches_each_part_for_the_runs_that_use_it_alone(data, tmp_path, monkeypatch):
    """Auto's first candidate (final and earlier features side by side) caches each part under its own run's
    key, from one pass: the earlier-layer candidate then only fits, and its model and a final-features run's are
    the ones runs that compute their own features give."""
    base = TrainSettings(image_size=64, augmentation="none", classifier_fit="converged", epochs=1, seed=5)
    cut = replace(base, strategy="truncated", cut_index=2)
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path / "shared-cache"))
    first = train(scan_dataset(data), base, tmp_path / "first")  # the final features cached, no earlier level
    both = train(scan_dataset(data), replace(base, with_level=2), tmp_path / "both")
    after = train(scan_dataset(data), cut, tmp_path / "after")
    final = train(scan_dataset(data), base, tmp_path / "final")
    assert not _compute(first.run_dir)["reused"]
    assert not _compute(both.run_dir)["reused"]  # the earlier part was missing: the pass ran again, for both
    assert _compute(after.run_dir)["reused"] and _compute(final.run_dir)["reused"]
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path / "own-cache"))
    alone = train(scan_dataset(data), cut, tmp_path / "alone")
    plain = train(scan_dataset(data), base, tmp_path / "plain")
    assert not _compute(alone.run_dir)["reused"] and not _compute(plain.run_dir)["reused"]
    _same_runs(alone, after, data, tol=1e-5)
    _same_runs(plain, final, data, tol=1e-5)  # the final features are what they are, passed alone or with another


def test_the_one_pass_check_is_remembered_for_the_same_weights_only(monkeypatch):
    """Auto's final candidate asks again what the advisor's pass observed on the same weights: answered
    without building the earlier network or running the check; other weights are checked afresh."""
    import core.training.run_setup as run_setup
    from core.models.preprocess import preprocessing_for
    monkeypatch.setattr(run_setup, "_ONE_PASS_SEEN", {})  # what earlier tests' runs observed
    built = []
    real = run_setup.TransferNet
    monkeypatch.setattr(run_setup, "TransferNet", lambda *a: built.append(a) or real(*a))
    net = TransferNet(create_backbone("tf_efficientnet_lite0").model, 3)
    apply_freeze_depth(net, 0)
    settings, plan = TrainSettings(image_size=64), plain_plan(torch.device("cpu"))
    pp = preprocessing_for(net.backbone, 64)
    _, first = run_setup.feature_pass(net, run_setup.features_key(net, pp, settings), 2, plan, 64)
    _, again = run_setup.feature_pass(net, run_setup.features_key(net, pp, settings), 2, plan, 64)
    assert first and again == first and len(built) == 1
    with torch.no_grad():
        net.backbone.conv_stem.weight.mul_(0.5)
    _, other = run_setup.feature_pass(net, run_setup.features_key(net, pp, settings), 2, plan, 64)
    assert len(built) == 2 and other[0][0]["weights"] != first[0][0]["weights"]
