"""Domain-adversarial training (core.methods.domain_adaptation) on a constructed shift (tests.shifted_data): tiny real runs."""

import json
from dataclasses import replace

import pytest
import torch

from core.base.cancel import CancelToken
from core.base.errors import Cancelled, DatasetError, TransferLabError
from core.data.dataset import scan_dataset
from core.evaluation.predict import evaluate, predict
from core.methods.domain_adaptation import adaptable_settings, grad_reverse, reversal_strength, train_adapted
from core.methods.resume import resume_run
from core.models.bundle import META_FILE, load_bundle
from core.training import runs
from core.training.settings import TrainSettings
from core.training.trainer import resume_training, train
from tests.datagen import make_class_folder, tree_fingerprint
from tests.shifted_data import SHAPES, make_shifted_domains
from tests.test_trainer import Recorder as TrainRecorder

# Fine-tune the top 3 of 8 layer groups; without augmentation the frozen bottom runs once per image.
SETTINGS = TrainSettings(image_size=64, batch_size=16, epochs=10, augmentation="none", strategy="fine-tune-top",
                         freeze_depth=3, head_lr=1e-3, backbone_lr=1e-3, seed=0)


class Recorder(TrainRecorder):
    """Also keeps the fit-start events and status messages."""

    def __init__(self, cancel_after_batches: int | None = None, token: CancelToken | None = None) -> None:
        super().__init__(cancel_after_batches, token)
        self.fit_starts, self.statuses = [], []

    def on_status(self, message):
        self.statuses.append(message)

    def on_fit_start(self, event):
        self.fit_starts.append(event)


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    return make_shifted_domains(tmp_path_factory.mktemp("shift"))


@pytest.fixture(scope="module")
def fingerprints(domains):
    return {folder: tree_fingerprint(folder) for folder in vars(domains).values()}


@pytest.fixture(scope="module")
def runs_(domains, fingerprints, tmp_path_factory):
    """Plain fine-tuning and DANN with the same settings and seed, on the same source images."""
    out = tmp_path_factory.mktemp("runs")
    scan = scan_dataset(domains.source)
    train(scan, SETTINGS, out / "plain")
    recorder = Recorder()
    result = train_adapted(scan, domains.target_unlabeled, SETTINGS, out / "dann", recorder,
                           target_test_scan=scan_dataset(domains.target_test))
    return {"plain": out / "plain", "dann": out / "dann", "result": result, "recorder": recorder}


def test_the_reversal_layer_flips_and_scales_gradients_on_the_papers_schedule():
    x = torch.ones(3, requires_grad=True)
    (grad_reverse(x, 0.25) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.equal(grad_reverse(x, 0.25), x) and x.grad.tolist() == [-0.25, -0.5, -0.75]
    assert reversal_strength(0.0, 1.0) == 0 and reversal_strength(0.5, 2.0) == pytest.approx(2 * 0.98661, abs=1e-4)
    assert reversal_strength(1.0, 1.0) == pytest.approx(0.99991, abs=1e-5)


def test_dann_confuses_the_domain_classifier_and_raises_target_accuracy(domains, runs_):
    result = runs_["result"]
    # The domain classifier is kept near chance (without the reversed gradient it reaches about 0.75 on its
    # own here, and near 1.0 if the gradient helped it: bench.dann has the comparison over 5 seeds).
    assert sum(result.domain_accuracy[-3:]) / 3 <= 0.68, result.domain_accuracy
    target, source = scan_dataset(domains.target_test), scan_dataset(domains.source_test)
    plain_target = evaluate(load_bundle(runs_["plain"]), target).accuracy
    assert evaluate(load_bundle(runs_["plain"]), source).accuracy - plain_target >= 0.15  # the shift hurts
    assert result.target_test_accuracy >= plain_target + 0.1, (result.target_test_accuracy, plain_target)
    assert evaluate(load_bundle(runs_["dann"]), source).accuracy >= 0.9  # still right on the source domain


def test_the_adapted_model_is_a_normal_bundle_with_an_adaptation_section(domains, fingerprints, runs_):
    run_dir, rec = runs_["dann"], runs_["recorder"]
    meta = json.loads((run_dir / META_FILE).read_text())
    adaptation = meta["adaptation"]
    assert adaptation["method"] == "DANN" and adaptation["target_images"] == 120
    assert adaptation["target_folder"] == str(domains.target_unlabeled) and adaptation["domain_weight"] == 1.0
    assert adaptation["domain_accuracy"] == runs_["result"].domain_accuracy and len(adaptation["domain_accuracy"]) == 10
    assert adaptation["target_test"]["accuracy"] == runs_["result"].target_test_accuracy
    assert adaptation["target_test"]["images"] == 100
    assert meta["classes"] == sorted(SHAPES) and meta["strategy"] == "fine-tune-top"
    assert [h["domain_accuracy"] for h in meta["metrics"]["history"]] == adaptation["domain_accuracy"]
    # The GUI's live curves get the usual events.
    assert len(rec.fit_starts) == 1 and "DANN" in rec.fit_starts[0].engine
    assert [e.epoch for e in rec.epochs] == list(range(1, 11)) and rec.epochs[-1].is_best
    assert len(rec.batches) == 10 * rec.fit_starts[0].batches_per_epoch
    assert sum("domain classifier" in s for s in rec.statuses) == 10
    # Predict works on it unchanged, and the run folder is a finished, not resumable run.
    results = predict(load_bundle(run_dir), [domains.target_test / "circle"])
    assert len(results) == 25 and all(r["label"] in SHAPES for r in results)
    record = runs.read_record(run_dir)
    assert record["status"] == runs.FINISHED and record["adaptation"]["method"] == "DANN"
    assert record["method"] == "DANN" and runs.resumable(run_dir) is None
    with pytest.raises(TransferLabError, match="already finished"):
        resume_run(run_dir)
    assert {folder: tree_fingerprint(folder) for folder in fingerprints} == fingerprints  # data never written


def test_unusable_target_folders_are_refused_before_training(domains, tmp_path):
    scan = scan_dataset(domains.source)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not an image")
    cases = {tmp_path / "missing": "does not exist", tmp_path / "empty": "holds no images",
             tmp_path / "broken": "None of the 1 image files", domains.source: "images of the labelled dataset"}
    for folder, message in cases.items():
        with pytest.raises(DatasetError, match=message):
            train_adapted(scan, folder, SETTINGS, tmp_path / "run")
        assert not (tmp_path / "run").exists()


def test_a_frozen_backbone_is_switched_to_fine_tuning_and_cancel_stops_the_run(domains, tmp_path):
    token = CancelToken()
    rec = Recorder(2, token)
    frozen = replace(SETTINGS, strategy="feature-extraction", freeze_depth=0)
    with pytest.raises(Cancelled):
        train_adapted(scan_dataset(domains.source), domains.target_unlabeled, frozen, tmp_path / "run", rec, token)
    assert any("fine-tunes the top 3 of 8 layer groups" in s for s in rec.statuses)
    assert len(rec.batches) == 2 and not rec.epochs
    assert runs.read_record(tmp_path / "run")["status"] == runs.CANCELLED
    assert not (tmp_path / "run" / META_FILE).exists() and not runs.interrupted_runs(tmp_path)
    with pytest.raises(TransferLabError, match="stopped before its first epoch ended"):
        resume_run(tmp_path / "run")
    with pytest.raises(TransferLabError, match="trained with DANN, not plain training"):
        resume_training(tmp_path / "run")  # the plain loop alone cannot continue it: the method is missing


def test_a_seeded_run_is_reproducible_and_l2sp_applies(tmp_path):
    small = make_shifted_domains(tmp_path / "small", per_class=6, unlabeled=16, test_per_class=0)
    settings = replace(SETTINGS, epochs=2, batch_size=8, l2sp_alpha=0.01)
    scan = scan_dataset(small.source)
    first = train_adapted(scan, small.target_unlabeled, settings, tmp_path / "a")
    second = train_adapted(scan, small.target_unlabeled, settings, tmp_path / "b")
    train_adapted(scan, small.target_unlabeled, replace(settings, l2sp_alpha=0.0), tmp_path / "no_l2sp")
    assert first.domain_accuracy == second.domain_accuracy and first.history[-1]["l2sp_distance"] > 0
    sha = {run: json.loads((tmp_path / run / META_FILE).read_text())["weights_sha256"] for run in ("a", "b", "no_l2sp")}
    assert sha["a"] == sha["b"] != sha["no_l2sp"]


def test_two_stage_fine_tuning_becomes_one_stage_and_a_bad_target_test_folder_is_refused(domains, tmp_path):
    settings, notes = adaptable_settings(replace(SETTINGS, two_stage=True, head_epochs=2, gradual_unfreeze=True))
    assert not settings.two_stage and not settings.gradual_unfreeze and settings.freeze_depth == 3
    assert len(notes) == 1 and "two-stage fine-tuning is off" in notes[0]
    assert adaptable_settings(SETTINGS) == (SETTINGS, [])
    # The advisor's frozen-backbone suggestion fits its classifier once, to convergence; LP-FT starts with
    # such a fit. Neither can adapt anything: both become epochs of fine-tuning that validate.
    for start in (replace(SETTINGS, strategy="feature-extraction", freeze_depth=0, classifier_fit="converged",
                          epochs=1),
                  replace(SETTINGS, two_stage=True, head_epochs=1, lp_ft=True)):
        adapted, _ = adaptable_settings(start)
        adapted.validate()
        assert adapted.classifier_fit == "epochs" and not adapted.lp_ft and adapted.epochs > 1 and \
            adapted.freeze_depth > 0
    other = make_class_folder(tmp_path / "other", ["circle", "hexagon"], per_class=2, size=32)
    with pytest.raises(DatasetError, match="hexagon"):
        train_adapted(scan_dataset(domains.source), domains.target_unlabeled, SETTINGS, tmp_path / "run",
                      target_test_scan=scan_dataset(other))
    assert not (tmp_path / "run").exists()


def test_cancel_keeps_the_last_epoch_and_resume_finishes_as_an_uninterrupted_run(tmp_path):
    """DANN goes through the one training loop: checkpoints every epoch, Cancel keeps a model, resume continues."""
    small = make_shifted_domains(tmp_path / "small", per_class=6, unlabeled=16, test_per_class=2)
    settings = replace(SETTINGS, epochs=3, batch_size=8)
    scan, test = scan_dataset(small.source), scan_dataset(small.target_test)
    whole = train_adapted(scan, small.target_unlabeled, settings, tmp_path / "whole", target_test_scan=test)
    token = CancelToken()
    first = Recorder(None, token)
    first.on_epoch_end = lambda e: (first.epochs.append(e), e.epoch == 1 and token.cancel())
    stopped = train_adapted(scan, small.target_unlabeled, settings, tmp_path / "cut", first, token,
                            target_test_scan=test)
    assert stopped.cancelled and len(stopped.history) == 1 and stopped.target_test_accuracy is None
    meta = json.loads((tmp_path / "cut" / META_FILE).read_text())
    assert meta["stopped"]["after_epoch"] == 1 and meta["adaptation"]["method"] == "DANN"  # a usable model
    assert runs.resumable(tmp_path / "cut")["adaptation"]["target_images"] == 16
    rec = Recorder()
    resumed = resume_run(tmp_path / "cut", rec)
    assert [e.epoch for e in rec.epochs] == [2, 3] and len(resumed.domain_accuracy) == 3
    assert resumed.domain_accuracy == whole.domain_accuracy and resumed.target_test_accuracy is not None
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in whole.history]
    sha = {run: json.loads((tmp_path / run / META_FILE).read_text())["weights_sha256"] for run in ("whole", "cut")}
    assert sha["whole"] == sha["cut"]


def test_an_adaptation_request_says_what_is_wrong_in_words(tmp_path):
    from core.methods.adaptation import Adaptation
    assert "Choose the folder of unlabeled images" in Adaptation("").problem()
    assert "does not exist" in Adaptation(str(tmp_path / "missing")).problem()
    assert "labelled test images does not exist" in Adaptation(str(tmp_path), str(tmp_path / "nope")).problem()
    ok = Adaptation(str(tmp_path), None, 0.5)
    assert ok.problem() is None and "strength 0.5" in ok.describe()
