""""I don't know" (core.models.unknown_score): the score, its threshold rule, and a trained model that carries it
into predict, evaluate, the CSV and the command line."""

import csv
import json

import numpy as np
import pytest
import torch

from core.cli.main import main
from core.data.dataset import scan_dataset
from core.evaluation.predict import evaluate, predict, write_predictions_csv
from core.models.bundle import load_bundle
from core.models.unknown_score import ACCEPTED, fit_unknown_score
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder, make_image


def _clusters(n: int, seed: int, spread: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Three classes: tight clusters on the first three axes, in 16 dimensions."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    return np.eye(16)[:3][labels] * 5 + rng.normal(0, spread, (n, 16)), labels


def test_images_unlike_every_labelled_one_score_above_the_threshold():
    scorer, info = fit_unknown_score(*_clusters(300, 0))
    with torch.no_grad():
        known = scorer(torch.as_tensor(_clusters(200, 1)[0], dtype=torch.float32))
        strange = scorer(torch.as_tensor(np.eye(16)[5:10] * 5, dtype=torch.float32))  # axes no class lies on
    assert (strange > scorer.threshold).all() and strange.min() > known.max()
    assert known.median() == pytest.approx(1.0, abs=0.3)  # per feature: about 1 for an image like the labelled
    assert info["threshold"] == scorer.threshold and info["classes"] == 3 and info["features"] == 16


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_the_threshold_accepts_95_percent_of_new_images_like_the_labelled_ones(seed):
    """The ACCEPTED quantile of cross-validated scores (each image scored by a detector fitted without it): new
    images from the same source are accepted within the issue's 95% +- 3%."""
    scorer, info = fit_unknown_score(*_clusters(1000, seed))
    assert ACCEPTED <= info["accepted"] <= 0.96 and info["threshold_from"] == "cross-validation"
    with torch.no_grad():
        fresh = scorer(torch.as_tensor(_clusters(4000, seed + 10)[0], dtype=torch.float32)).numpy()
    assert 0.92 <= np.mean(fresh <= scorer.threshold) <= 0.98


def test_features_fitted_to_the_training_images_get_their_threshold_from_the_validation_ones():
    """Fine-tuning pulls the training images' features towards their class (here: a third of the spread) while
    new images keep theirs: a threshold from the training images would call a third of the new ones unknown."""
    x, y = _clusters(400, 7, spread=0.5 / 3)
    vx, vy = _clusters(100, 8)
    held = np.r_[np.zeros(len(x), bool), np.ones(len(vx), bool)]
    with torch.no_grad():
        fresh = torch.as_tensor(_clusters(4000, 9)[0], dtype=torch.float32)
        scorer, info = fit_unknown_score(np.r_[x, vx], np.r_[y, vy], held=held)
        assert info["threshold_from"] == "validation" and info["threshold_images"] == 100
        assert 0.92 <= np.mean(scorer(fresh).numpy() <= scorer.threshold) <= 0.98
        blind, _ = fit_unknown_score(np.r_[x, vx], np.r_[y, vy])  # the same images, the old rule
        assert np.mean(blind(fresh).numpy() <= blind.threshold) < 0.8
        few, info = fit_unknown_score(np.r_[x, vx[:10]], np.r_[y, vy[:10]], held=held[:-90])  # under MIN_HELD
        assert info["threshold_from"] == "cross-validation"


def test_a_class_with_fewer_images_than_folds_still_gets_a_score():
    x, y = _clusters(60, 4)
    y[:2] = 3  # a fourth class of two images
    scorer, info = fit_unknown_score(x, y)
    again, _ = fit_unknown_score(x, y)
    assert info["classes"] == 4 and np.isfinite(info["threshold"]) and again.threshold == scorer.threshold
    with pytest.raises(ValueError, match="at least 5"):
        fit_unknown_score(x[:4], y[:4])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("unknown")
    data = make_class_folder(root / "data", ["circles", "squares"], per_class=12, size=64)
    train(scan_dataset(data), TrainSettings(image_size=64, batch_size=8), root / "run")  # a converged classifier
    known = root / "known"
    known.mkdir()
    for i in range(6):
        make_image(i % 2, size=64, seed=500 + i).save(known / f"shape{i}.png")
    strange = root / "strange"
    strange.mkdir()
    rng = np.random.default_rng(0)
    from PIL import Image
    for i in range(6):  # coloured noise: nothing like a drawn shape
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(strange / f"noise{i}.png")
    return root


def test_a_trained_model_carries_its_unknown_score_and_calls_noise_unknown(trained):
    bundle = load_bundle(trained / "run")
    assert bundle.net.unknown is not None and bundle.meta["unknown"]["classes"] == 2
    known = predict(bundle, [trained / "known"])
    strange = predict(bundle, [trained / "strange"])
    assert all("unknown_score" in r for r in known + strange)
    assert all(r["is_unknown"] for r in strange) and sum(r["is_unknown"] for r in known) <= 1
    assert min(r["unknown_score"] for r in strange) > max(r["unknown_score"] for r in known)
    lenient = predict(bundle, [trained / "strange"], threshold=1 + max(r["unknown_score"] for r in strange))
    assert not any(r["is_unknown"] for r in lenient)


def test_evaluate_measures_the_unknown_folder_and_the_csv_has_the_columns(trained, tmp_path):
    bundle = load_bundle(trained / "run")
    report = evaluate(bundle, scan_dataset(trained / "data"), unknown_folder=trained / "strange")
    unknown = report.unknown
    assert unknown["images"] == 6 and unknown["auroc"] == 1.0 and unknown["rejected_unknown"] == 1.0
    assert 0 <= unknown["rejected_known"] <= 1 and "unknown_score" in report.images[0]
    path = tmp_path / "p.csv"
    write_predictions_csv(path, predict(bundle, [trained / "strange"]), bundle.classes)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert list(rows[0])[:5] == ["path", "label", "confidence", "unknown_score", "is_unknown"]
    assert {r["is_unknown"] for r in rows} == {"yes"} and all(float(r["unknown_score"]) > 0 for r in rows)


def test_the_command_line_rejects_and_measures(trained, capsys):
    assert main(["predict", str(trained / "run"), str(trained / "strange"), "--reject", "--json", "--quiet"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert {r["label"] for r in results} == {"unknown"}
    assert main(["predict", str(trained / "run"), str(trained / "strange"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "looks unlike your training images" in out and "unknown\t" not in out  # the class, with the flag
    assert main(["evaluate", str(trained / "run"), str(trained / "data"), "--unknown-folder",
                 str(trained / "strange"), "--quiet"]) == 0
    assert "AUROC of 1.000" in capsys.readouterr().out
    assert main(["predict", str(trained / "run"), str(trained / "known"), "--threshold", "1", "--quiet"]) == 2


def test_a_model_with_an_unknown_score_of_another_kind_still_opens_without_one(trained, tmp_path):
    """A bundle whose "I don't know" numbers this version cannot read (here an earlier kind's reference features)
    opens as a plain classifier instead of failing."""
    from torch import nn

    from core.models.bundle import save_bundle
    bundle = load_bundle(trained / "run")
    net = bundle.net
    other = nn.Module()
    other.register_buffer("reference", torch.zeros(4, 8))
    net.unknown = other
    save_bundle(tmp_path, net, {**bundle.meta, "unknown": {"k": 1, "threshold": 0.5}})
    reopened = load_bundle(tmp_path)
    assert reopened.net.unknown is None and "unknown" not in reopened.meta
    assert "unknown_score" not in predict(reopened, [trained / "known"])[0]


def test_a_class_left_out_of_the_covariance_sample_keeps_its_mean():
    """From MAX_SPREAD_IMAGES images on, the covariance comes from a sample; every class still has its mean,
    so a rare class's images are not called unknown for being far from the others."""
    from core.models.unknown_score import MAX_SPREAD_IMAGES
    x, y = _clusters(MAX_SPREAD_IMAGES + 300, 5)
    rare = np.eye(16)[7] * 5 + np.random.default_rng(6).normal(0, 0.5, (2, 16))  # a fourth class of two images
    n = len(x) + 2
    seed = next(s for s in range(100)  # a seed whose sample leaves both rare images out (as fit_unknown_score draws)
                if not {n - 2, n - 1} & set(np.random.default_rng(s).choice(n, MAX_SPREAD_IMAGES, replace=False)))
    scorer, info = fit_unknown_score(np.concatenate([x, rare]), np.concatenate([y, [3, 3]]), seed=seed)
    assert info["classes"] == 4
    with torch.no_grad():
        assert (scorer(torch.as_tensor(rare + 0.1, dtype=torch.float32)) <= scorer.threshold).all()


def test_a_fine_tuned_model_sets_its_threshold_on_the_validation_images(tmp_path):
    """Fine-tuning changed the features its training images are scored by; the images it did not train on
    (every validation image) set the threshold."""
    data = make_class_folder(tmp_path / "data", ["circles", "squares"], per_class=60, size=48)
    train(scan_dataset(data), TrainSettings(image_size=48, epochs=1, batch_size=16, strategy="fine-tune-top", freeze_depth=2,
                              two_stage=False, augmentation="none"), tmp_path / "run")
    meta = load_bundle(tmp_path / "run").meta
    described = meta["unknown"]
    assert described["threshold_from"] == "validation" and described["scored_images"] == 120
    assert described["threshold_images"] == meta["dataset"]["split"]["val"] >= 20


def test_the_threshold_curve_counts_what_each_threshold_lets_through_and_catches():
    from core.evaluation.unknown_threshold import threshold_curve
    curve = threshold_curve([1, 2, 3, 4], [3.5, 10], extra=[2.5])
    assert curve.at(2.5) == (0.5, 1.0) and curve.at(3.5) == (0.75, 0.5)
    assert curve.at(0.5) == (0.0, 1.0) and curve.at(100) == (1.0, 0.0)
    assert curve.threshold_accepting(0.75) == 3 and curve.known_images == 4 and curve.other_images == 2
    assert curve.auroc == pytest.approx(7 / 8)  # 3.5 is above three of the four known scores, 10 above all
    alone = threshold_curve([1, 2, 3, 4])
    assert alone.at(2) == (0.5, None) and alone.rejected_other == [] and alone.auroc is None
    assert threshold_curve([1, 2], [2, 3]).auroc == pytest.approx(0.875)  # the tie at 2 counts half


def test_a_kept_threshold_is_what_predict_uses_and_the_trained_one_stays_known(trained, tmp_path):
    import shutil

    from core.evaluation.unknown_threshold import known_scores, set_unknown_threshold
    shutil.copytree(trained / "run", tmp_path / "run")
    bundle = load_bundle(tmp_path / "run")
    first = bundle.meta["unknown"]["threshold"]
    scores, words = known_scores(bundle)
    assert len(scores) == 24 and "24 labelled images" in words
    assert np.mean(np.asarray(scores) <= first) >= 0.95  # the scores that set it
    lenient = 1 + max(r["unknown_score"] for r in predict(bundle, [trained / "strange"]))
    set_unknown_threshold(bundle, lenient)
    assert not any(r["is_unknown"] for r in predict(bundle, [trained / "strange"]))  # in memory at once
    reopened = load_bundle(tmp_path / "run")
    assert reopened.meta["unknown"]["threshold"] == lenient and reopened.meta["unknown"]["trained_threshold"] == first
    assert not any(r["is_unknown"] for r in predict(reopened, [trained / "strange"]))
    report = evaluate(reopened, scan_dataset(trained / "data"))
    assert report.unknown["trained_threshold"] == first and report.unknown["threshold"] == lenient
    with pytest.raises(Exception, match="positive number"):
        set_unknown_threshold(reopened, float("nan"))


def test_unknown_scores_are_written_in_plain_decimals():
    from core.evaluation.result_words import score_words
    assert [score_words(v) for v in (0.8421, 1.0712, 4120.4)] == ["0.842", "1.07", "4,120"]
