"""Ranking models and probing layers without training: LogME, the linear probe, Kendall's tau,
and the real-backbone passes over generated images (tf_efficientnet_lite0, offline weights)."""

import math
import time

import numpy as np
import pytest
from PIL import Image

from core.base.cancel import CancelToken
from core.base.errors import Cancelled
from core.data.dataset import make_split, scan_dataset
from core.data.split import stratified_folds
from core.methods.pooled_features import stratified_sample
from core.methods.probe import best_intermediate, probe_layers
from core.methods.ranking import MEANING, explain, rank_models
from core.methods.transferability import kendall_tau, linear_probe_accuracy, logme
from core.models.network import cut_levels
from core.models.weights import create_backbone
from core.models.weights_status import DOWNLOAD, offline_status
from tests.datagen import make_class_folder, make_image

LITE0 = "tf_efficientnet_lite0"


def graded_features(strength: float, n_per_class: int = 40, classes: int = 4, dim: int = 64, seed: int = 0):
    """Noise plus a class signal of the given strength in a few directions (0 = pure noise)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    features = rng.normal(size=(len(labels), dim))
    features[:, :classes] += strength * np.eye(classes)[labels]
    return features, labels


def direct_logme(f: np.ndarray, y: np.ndarray) -> float:
    """LogME by brute force: maximise the Gaussian marginal likelihood y ~ N(0, I/beta + F F'/alpha)
    numerically over (log alpha, log beta), per one-vs-rest target; no SVD tricks."""
    optimize = pytest.importorskip("scipy.optimize")
    n = len(f)

    def negative_log_evidence(params, target):
        alpha, beta = np.exp(params)
        cov = np.eye(n) / beta + f @ f.T / alpha
        _, logdet = np.linalg.slogdet(cov)
        return 0.5 * (logdet + target @ np.linalg.solve(cov, target) + n * math.log(2 * math.pi))

    scores = []
    for c in np.unique(y):
        target = (y == c).astype(float)
        best = min((optimize.minimize(negative_log_evidence, start, args=(target,), method="Nelder-Mead",
                                      options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
                    for start in ([0.0, 0.0], [3.0, 3.0], [-3.0, 1.0])), key=lambda r: r.fun)
        scores.append(-best.fun / n)
    return float(np.mean(scores))


# -- LogME -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, d", [(12, 3), (7, 10)])  # more samples than dimensions, and fewer
def test_logme_matches_a_brute_force_evidence_maximisation(n, d):
    rng = np.random.default_rng(n * 100 + d)
    y = np.arange(n) % 3
    f = rng.normal(size=(n, d)) + 0.8 * np.eye(3, d)[y]
    assert logme(f, y) == pytest.approx(direct_logme(f, y), abs=1e-5)


def test_logme_scores_label_encoding_features_above_noise():
    labels = np.repeat(np.arange(3), 20)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(60, 16))
    encoding = noise.copy()
    encoding[:, :3] += 5 * np.eye(3)[labels]
    assert logme(encoding, labels) > logme(noise, labels) + 0.3
    wide_noise = rng.normal(size=(60, 500))  # N < D: the smaller Gram matrix is used
    wide = wide_noise.copy()
    wide[:, :3] += 5 * np.eye(3)[labels]
    assert logme(wide, labels) > logme(wide_noise, labels)


def test_logme_edge_cases_give_finite_numbers():
    labels = np.array([0, 1] * 10)
    rng = np.random.default_rng(1)
    assert math.isfinite(logme(rng.normal(size=(20, 5)), labels))  # two classes
    assert math.isfinite(logme(np.ones((20, 5)), labels))  # constant features (rank 1)
    assert math.isfinite(logme(np.zeros((20, 5)), labels))  # no features at all: pure noise model
    f = rng.normal(size=(20, 5))
    names = np.array(["cat", "dog"] * 10)
    assert logme(f, names) == pytest.approx(logme(f, labels))  # any label values
    with pytest.raises(ValueError):
        logme(np.full((4, 2), np.nan), [0, 1, 0, 1])


# -- linear probe ------------------------------------------------------------------------------------

def test_linear_probe_is_near_perfect_on_separable_features_and_near_chance_on_noise():
    separable, labels = graded_features(6.0)
    noise, _ = graded_features(0.0)
    assert linear_probe_accuracy(separable, labels) >= 0.97
    assert linear_probe_accuracy(noise, labels) < 0.45  # chance is 0.25
    assert linear_probe_accuracy(separable, labels, seed=3) == linear_probe_accuracy(separable, labels, seed=3)


def test_linear_probe_is_fast_on_backbone_sized_features():
    features, labels = graded_features(3.0, n_per_class=75, dim=1280)  # 300 x 1280, like lite0's
    linear_probe_accuracy(features[::10], labels[::10])  # torch's one-off start-up is not the probe's
    start = time.perf_counter()
    accuracy = linear_probe_accuracy(features, labels)
    assert time.perf_counter() - start < 10.0  # 0.2-0.5 s on a 2-core CPU; generous for a busy machine
    assert accuracy > 0.5


def test_folds_are_stratified_and_small_classes_get_fewer_folds():
    labels = np.array([0] * 10 + [1] * 7 + [2] * 3)
    folds = stratified_folds(labels, 3)
    for k in range(3):
        assert set(labels[folds == k]) == {0, 1, 2}
    assert math.isfinite(linear_probe_accuracy(np.eye(20)[:, :5], labels, folds=5))  # 3 folds at most here
    with pytest.raises(ValueError):
        linear_probe_accuracy(np.zeros((5, 2)), [0, 0, 0, 0, 1])
    # A class with one sample cannot be learnt from and tested: it is left out, the rest is probed.
    lone = np.array([0] * 4 + [1] * 4 + [2])
    features = np.eye(9)[:, :3] + lone[:, None]
    assert linear_probe_accuracy(features, lone) == linear_probe_accuracy(features[:8], lone[:8])


# -- Kendall's tau -----------------------------------------------------------------------------------

def test_kendall_tau_on_hand_computed_values():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)  # 2 concordant, 1 discordant
    # a ties one pair of the six, b none; the other five pairs agree: 5 / sqrt(5 * 6)
    assert kendall_tau([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(5 / math.sqrt(30))
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    stats = pytest.importorskip("scipy.stats")
    a, b = np.random.default_rng(0).integers(0, 4, size=(2, 30))
    assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b).statistic)


def test_logme_orders_feature_sets_like_the_linear_probe_does():
    strengths = [0.0, 0.4, 0.8, 1.2, 1.8, 2.5, 4.0]
    sets = [graded_features(s, n_per_class=30, seed=i) for i, s in enumerate(strengths)]
    scores = [logme(f, y) for f, y in sets]
    accuracies = [linear_probe_accuracy(f, y) for f, y in sets]
    assert kendall_tau(scores, strengths) == 1.0
    assert kendall_tau(scores, accuracies) >= 0.8


# -- real backbone, generated images -----------------------------------------------------------------

def colour_folder(root, per_class: int = 8, size: int = 64):
    """Classes that differ only in colour (the shape is random): the evidence is low-level."""
    colours = {"red": (200, 40, 40), "green": (40, 170, 60), "blue": (40, 60, 200)}
    for name, colour in colours.items():
        for i in range(per_class):
            rng = np.random.default_rng([len(name), i])
            kind = int(rng.integers(0, 8))
            pixels = np.asarray(make_image(kind, size, i), dtype=np.float32)
            grey = pixels.mean(axis=2, keepdims=True) / 255
            tinted = np.clip(grey * np.array(colour) * 1.6 + rng.normal(0, 6, pixels.shape), 0, 255)
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(tinted.astype(np.uint8)).save(root / name / f"img_{i:02d}.png")
    return root


def test_stratified_sample_is_balanced_seeded_and_capped(tmp_path):
    scan = scan_dataset(make_class_folder(tmp_path / "d", ["a", "b", "c"], per_class=10, size=24))
    items = scan.all_items()
    sample = stratified_sample(items, 12, seed=1)
    assert len(sample) == 12 and [sum(i.label == c for i in sample) for c in range(3)] == [4, 4, 4]
    assert sample == stratified_sample(items, 12, seed=1) != stratified_sample(items, 12, seed=2)
    assert len(stratified_sample(items, 1000)) == 30


def test_rank_models_scores_offline_models_and_skips_the_others_with_a_reason(tmp_path):
    scan = scan_dataset(make_class_folder(tmp_path / "data", ["circles", "squares", "stripes"], per_class=8,
                                          size=64))
    unavailable = [name for name in ("resnet18", "mobilenetv3_large_100") if offline_status(name) == DOWNLOAD]
    calls = []
    scores = rank_models(scan, [LITE0, "no_such_model", *unavailable], image_size=64,
                         progress=lambda done, total, message: calls.append((done, total, message)))
    best = scores[0]
    assert best.model_name == LITE0 and best.skipped_reason is None
    assert best.images == len(make_split(scan).train) == 18  # the validation images stay unseen
    assert best.feature_dim == 1280 and 3 < best.params_m < 5
    assert math.isfinite(best.logme) and best.probe_accuracy > 0.8 and best.images_per_second > 0
    reasons = {s.model_name: s.skipped_reason for s in scores[1:]}
    assert "not a model" in reasons["no_such_model"]
    for name in unavailable:
        assert "not on this computer" in reasons[name]
    assert best.to_dict()["logme"] == best.logme
    lines = explain(scores)
    assert lines[0] == MEANING and "ranked 1 of 1" in lines[1] and "not scored" in lines[2]
    assert calls and calls[-1][0] == calls[-1][1]
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        rank_models(scan, [LITE0], image_size=64, cancel=token, with_probe=False)


def test_probe_layers_finds_colour_evidence_in_early_levels(tmp_path):
    scan = scan_dataset(colour_folder(tmp_path / "colours"))
    probe = probe_layers(scan, LITE0, image_size=64)
    levels = cut_levels(create_backbone(LITE0, "none").model)
    assert [entry["module"] for entry in probe.levels] == [info["module"] for info in levels]
    assert [entry["channels"] for entry in probe.levels] == [info["num_chs"] for info in levels]
    assert probe.images == len(make_split(scan).train) and probe.chance == pytest.approx(1 / 3)
    assert probe.levels[0]["accuracy"] >= 0.9  # colour is visible right after the stem
    assert probe.best_index is not None and 0 <= probe.best_index < len(levels) - 1
    assert probe.best["accuracy"] == max(entry["accuracy"] for entry in probe.levels[:-1])
    assert all(math.isfinite(entry["logme"]) for entry in probe.levels)
    assert 0 <= probe.final_accuracy <= 1 and math.isfinite(probe.final_logme)
    assert probe.to_dict()["best_rule"] and "layer" in probe.sentence()  # "layer N of M", in plain words


def test_best_intermediate_excludes_the_last_level_and_prefers_the_earliest_on_a_tie():
    assert best_intermediate([0.5, 0.9, 0.9, 1.0]) == 1
    assert best_intermediate([0.7, 0.6, 0.2]) == 0
    assert best_intermediate([1.0]) is None
