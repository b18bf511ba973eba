"""Feature strategies fit their classifier to convergence (core.training.linear_head) inside the normal run:
one fit, validated on the held-out images like any epoch, saved as an ordinary bundle."""

import json
from dataclasses import replace

import pytest

from core.base.cancel import CancelToken
from core.base.errors import Cancelled, TransferLabError
from core.data.dataset import scan_dataset
from core.evaluation.predict import evaluate
from core.models.bundle import META_FILE, load_bundle
from core.training.events import TrainCallback
from core.training.settings import TrainSettings, consistent, with_strategy
from core.training.trainer import train
from tests.datagen import make_class_folder

CLASSES = ["circles", "squares", "stripes"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_class_folder(tmp_path_factory.mktemp("d") / "shapes", CLASSES, per_class=12, size=64)


def _converged(**changes) -> TrainSettings:
    return replace(with_strategy(TrainSettings(image_size=64), "feature-extraction", 8, None), **changes)


def test_feature_strategies_default_to_a_converged_classifier():
    for strategy in ("feature-extraction", "truncated"):
        s = with_strategy(TrainSettings(), strategy, 8, 4)
        assert s.classifier_fit == "converged" and s.epochs == 1
        s.validate()
    fine = with_strategy(TrainSettings(), "fine-tune-top", 8, None)
    assert fine.classifier_fit == "epochs" and fine.epochs > 1
    # switching a converged run to fine-tuning, or turning the caches off, trains in epochs again
    assert consistent(replace(_converged(), strategy="fine-tune-all", freeze_depth=8)).classifier_fit == "epochs"
    assert consistent(replace(_converged(), speedups=False)).classifier_fit == "epochs"
    with pytest.raises(TransferLabError, match="epochs to 1"):
        replace(_converged(), epochs=5).validate()
    with pytest.raises(TransferLabError, match="frozen backbone"):
        replace(_converged(), strategy="fine-tune-top", freeze_depth=2).validate()


def test_a_converged_run_is_one_validated_fit_saved_as_a_bundle(data, tmp_path):
    said = []

    class Status(TrainCallback):
        def on_status(self, message):
            said.append(message)

    result = train(scan_dataset(data), _converged(), tmp_path / "run", Status())
    assert [e["epoch"] for e in result.history] == [1]
    meta = json.loads((tmp_path / "run" / META_FILE).read_text())
    chosen = meta["compute"]["classifier"]
    assert chosen["l2"] in [t["l2"] for t in chosen["path"]] and 0 <= chosen["cv_accuracy"] <= 1
    assert any("cross-validated accuracy on the training images" in m for m in said)
    # the accuracy the run reports is what the saved model scores on its held-out images
    report = evaluate(load_bundle(tmp_path / "run"), scan_dataset(data))
    assert report.split.startswith("val") and report.accuracy == pytest.approx(result.best_val_accuracy)
    assert result.best_val_accuracy >= 0.8  # the shapes are easy for ImageNet features


def test_augmented_views_are_all_used_by_one_fit(data, tmp_path):
    result = train(scan_dataset(data), _converged(augmentation="light"), tmp_path / "run")
    meta = json.loads((tmp_path / "run" / META_FILE).read_text())
    assert meta["compute"]["views"] == 4 and result.history[0]["train_accuracy"] > 0.5


def test_cancel_stops_the_fit(data, tmp_path):
    token = CancelToken()

    class CancelOnFit(TrainCallback):
        def on_status(self, message):
            if message.startswith("Fitting the classifier"):
                token.cancel()

    with pytest.raises(Cancelled):
        train(scan_dataset(data), _converged(), tmp_path / "run", CancelOnFit(), cancel=token)
    assert not (tmp_path / "run" / META_FILE).exists()


def test_the_saved_classifier_learns_from_every_labelled_image_and_is_never_scored_on_them(data, tmp_path):
    from core.evaluation.heldout import SPLIT_NAME
    result = train(scan_dataset(data), _converged(), tmp_path / "run")
    bundle = load_bundle(tmp_path / "run")
    split = bundle.meta["dataset"]["split"]
    assert bundle.meta["refit"]["images"] == split["train"] + split["val"]
    assert bundle.meta["refit"]["l2"] == bundle.meta["compute"]["classifier"]["l2"]
    # Evaluating the training folder shows the measured fit's held-out predictions, not the saved
    # classifier's on images it learnt from; the numbers are the run's own.
    report = evaluate(bundle, scan_dataset(data))
    assert report.split == SPLIT_NAME and report.num_images == split["val"]
    assert report.accuracy == pytest.approx(result.best_val_accuracy)
    assert report.loss == pytest.approx(result.best_val_loss, abs=1e-4) or bundle.temperature != 1.0
    # any other folder is scored by the saved model itself
    other = make_class_folder(tmp_path / "other", CLASSES, per_class=3, size=64, seed=5)
    fresh = evaluate(bundle, scan_dataset(other))
    assert fresh.split == "all" and fresh.num_images == 9
