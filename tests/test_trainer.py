"""Tiny real training runs: small generated images, small/pretrained models, a few epochs."""

import json
import shutil
from dataclasses import replace

import pytest
import timm
import torch
from safetensors.torch import load_file

from core.base.cancel import CancelToken
from core.base.errors import Cancelled, TransferLabError
from core.data.dataset import scan_dataset
from core.evaluation.predict import evaluate, predict
from core.models.bundle import META_FILE, WEIGHTS_FILE, load_bundle
from core.models.network import layer_groups
from core.models.weights import create_backbone
from core.training.events import BatchEnd, EpochEnd, TrainCallback
from core.training.settings import TrainSettings
from core.training.trainer import CHECKPOINT_FILE, train
from tests.datagen import make_class_folder, make_image, tree_fingerprint

CLASSES = ["circles", "squares", "stripes"]
FAST = TrainSettings(image_size=64, batch_size=8, epochs=3, augmentation="light")


class Recorder(TrainCallback):
    def __init__(self, cancel_after_batches: int | None = None, token: CancelToken | None = None):
        self.batches: list[BatchEnd] = []
        self.epochs: list[EpochEnd] = []
        self.cancel_after, self.token = cancel_after_batches, token

    def on_batch_end(self, event):
        self.batches.append(event)
        if self.cancel_after is not None and len(self.batches) >= self.cancel_after:
            self.token.cancel()

    def on_epoch_end(self, event):
        self.epochs.append(event)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_class_folder(tmp_path_factory.mktemp("d") / "shapes", CLASSES, per_class=10, size=64)


def test_feature_extraction_learns_and_saves_a_bundle_that_predicts(data, tmp_path):
    before = tree_fingerprint(data)
    rec = Recorder()
    result = train(scan_dataset(data), FAST, tmp_path / "run", rec)
    assert result.best_val_accuracy >= 0.8
    assert len(rec.epochs) == 3 and len(rec.batches) == 3 * rec.batches[0].batches
    assert all(isinstance(v, (int, float, bool)) for e in rec.epochs for v in vars(e).values())
    meta = json.loads((tmp_path / "run" / META_FILE).read_text())
    assert meta["classes"] == CLASSES and meta["model_name"] == "tf_efficientnet_lite0"
    assert meta["strategy"] == "feature-extraction" and meta["freeze_depth"] == 0
    assert meta["preprocessing"]["input_size"] == 64 and len(meta["metrics"]["history"]) == 3
    assert {"torch", "timm", "torchvision"} <= set(meta["versions"]) and meta["dataset"]["num_images"] == 30
    # The frozen backbone is exactly the pretrained one.
    saved = load_file(str(tmp_path / "run" / WEIGHTS_FILE))
    pretrained = create_backbone("tf_efficientnet_lite0").model.state_dict()
    assert torch.equal(saved["backbone.blocks.3.0.conv_pw.weight"], pretrained["blocks.3.0.conv_pw.weight"])
    # Held-out images (new seeds) are labelled correctly.
    held_out = tmp_path / "new"
    held_out.mkdir()
    for kind, name in enumerate(CLASSES):
        make_image(kind, size=64, seed=1000 + kind).save(held_out / f"{name}.png")
    results = predict(load_bundle(tmp_path / "run"), [held_out])
    assert {r["path"].split("/")[-1][:-4]: r["label"] for r in results} == {c: c for c in CLASSES}
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in results)
    report = evaluate(load_bundle(tmp_path / "run"), scan_dataset(data))
    assert report.accuracy >= 0.8 and len(report.confusion_matrix) == 3
    assert report.split.startswith("val") and report.num_images == meta["dataset"]["split"]["val"]
    copy = shutil.copytree(data, tmp_path / "copy")
    report = evaluate(load_bundle(tmp_path / "run"), scan_dataset(copy))
    assert report.split == "all" and report.num_images == 30 and report.accuracy >= 0.8
    assert tree_fingerprint(data) == before  # the dataset folder was never written to


def test_fine_tune_top_changes_only_the_top_groups(data, tmp_path):
    settings = replace(FAST, model_name="test_efficientnet", weights="none", strategy="fine-tune-top",
                       freeze_depth=2, epochs=2, head_lr=1e-2, backbone_lr=1e-3)
    start = create_backbone("test_efficientnet", weights="none")
    torch.manual_seed(settings.seed)
    initial = timm.create_model("test_efficientnet", pretrained=False).state_dict()
    train(scan_dataset(data), settings, tmp_path / "run")
    saved = load_file(str(tmp_path / "run" / WEIGHTS_FILE))
    groups = layer_groups(start.model)
    frozen, trained = groups[:-2], groups[-2:]
    for g in frozen:
        for n in g.param_names:
            assert torch.equal(saved[f"backbone.{n}"], initial[n]), n
    assert any(not torch.equal(saved[f"backbone.{n}"], initial[n]) for g in trained for n in g.param_names)
    # BatchNorm statistics of frozen groups are untouched too.
    assert torch.equal(saved["backbone.bn1.running_mean"], initial["bn1.running_mean"])


def test_truncated_bundle_reloads_with_identical_predictions(data, tmp_path):
    settings = replace(FAST, strategy="truncated", cut_index=2, epochs=1)
    train(scan_dataset(data), settings, tmp_path / "run")
    bundle = load_bundle(tmp_path / "run")
    assert bundle.net.cut_index == 2
    first = predict(bundle, [data])
    again = predict(load_bundle(tmp_path / "run"), [data])
    assert [r["probabilities"] for r in first] == [r["probabilities"] for r in again]


def test_cancel_stops_within_one_batch_and_keeps_no_bundle(data, tmp_path):
    token = CancelToken()
    rec = Recorder(cancel_after_batches=2, token=token)
    with pytest.raises(Cancelled):
        train(scan_dataset(data), replace(FAST, epochs=5), tmp_path / "run", rec, cancel=token)
    assert len(rec.batches) == 2
    assert not (tmp_path / "run" / META_FILE).exists()


def test_same_seed_same_history(data, tmp_path):
    settings = replace(FAST, model_name="test_efficientnet", weights="none", strategy="fine-tune-all",
                       freeze_depth=5, epochs=2)
    a = train(scan_dataset(data), settings, tmp_path / "a")
    b = train(scan_dataset(data), settings, tmp_path / "b")
    strip = lambda h: [{k: v for k, v in e.items() if k not in ("seconds", "eta_s")} for e in h]
    assert strip(a.history) == strip(b.history)


def test_early_stopping_stops_when_validation_stops_improving(data, tmp_path):
    settings = replace(FAST, epochs=6, head_lr=1e-9, early_stopping_patience=2)
    result = train(scan_dataset(data), settings, tmp_path / "run")
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1


def test_checkpoint_is_written_each_epoch_and_loads_without_pickle(data, tmp_path):
    train(scan_dataset(data), replace(FAST, epochs=2), tmp_path / "run")
    checkpoint = torch.load(tmp_path / "run" / CHECKPOINT_FILE, weights_only=True)
    assert checkpoint["epoch"] == 2 and len(checkpoint["history"]) == 2 and checkpoint["best"]["epoch"] >= 1


def test_run_folder_inside_the_dataset_is_refused(data):
    with pytest.raises(TransferLabError, match="inside your dataset"):
        train(scan_dataset(data), FAST, data / "run")


def test_existing_model_is_not_overwritten_by_default(data, tmp_path):
    train(scan_dataset(data), replace(FAST, epochs=1), tmp_path / "run")
    with pytest.raises(TransferLabError, match="already holds"):
        train(scan_dataset(data), replace(FAST, epochs=1), tmp_path / "run")


def test_requesting_a_missing_gpu_is_a_clear_error(data, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(TransferLabError, match="CUDA was requested"):
        train(scan_dataset(data), replace(FAST, device="cuda"), tmp_path / "run")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_trains_on_cuda(data, tmp_path):
    result = train(scan_dataset(data), replace(FAST, device="cuda"), tmp_path / "run")
    assert result.best_val_accuracy >= 0.8


def test_results_do_not_depend_on_whether_the_bundled_weights_were_converted_first(data, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path / "fresh-cache"))  # the first run converts
    settings = replace(FAST, epochs=1, augmentation="none")
    first = train(scan_dataset(data), settings, tmp_path / "a")
    second = train(scan_dataset(data), settings, tmp_path / "b")
    strip = lambda h: [{k: v for k, v in e.items() if k not in ("seconds", "eta_s")} for e in h]
    assert strip(first.history) == strip(second.history)
