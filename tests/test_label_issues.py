"""Likely label mistakes (core.methods.label_issues): confident learning's flags as cleanlab computes them,
out-of-fold probabilities that never score an image with a classifier that saw it, and a real run that finds
images put in the wrong folder without writing to it."""

import shutil

import numpy as np
import pytest

from core.data.dataset import scan_dataset
from core.methods.label_issues import (action_for, confident_issues, find_label_issues, likely_mistakes,
                                       out_of_fold_probabilities)
from tests.datagen import make_class_folder, tree_fingerprint


def _noisy_probabilities(seed: int):
    rng = np.random.default_rng(seed)
    classes, n = 4, 200
    truth = rng.integers(0, classes, n)
    labels = truth.copy()
    flipped = rng.choice(n, 20, replace=False)
    labels[flipped] = (truth[flipped] + rng.integers(1, classes, 20)) % classes
    logits = rng.normal(0, 1, (n, classes)) + 3.0 * np.eye(classes)[truth]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return labels, p, set(flipped.tolist())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_flags_are_cleanlabs_confident_learning(seed):
    from cleanlab.filter import find_label_issues as cleanlab_issues
    labels, p, flipped = _noisy_probabilities(seed)
    order, suggested = confident_issues(labels, p)
    reference = cleanlab_issues(labels, p, filter_by="confident_learning", return_indices_ranked_by="self_confidence")
    assert order.tolist() == reference.tolist()
    assert np.all(suggested != labels[order]) and len(set(order.tolist()) & flipped) >= 0.7 * len(flipped)


def test_a_label_far_less_likely_than_another_class_is_flagged_though_no_class_reached_its_threshold():
    """Class 1's images get 0.87 on average (its threshold), so an image labelled 0 that the model gives 0.03 for
    class 0 and 0.6 for class 1 is below class 1's threshold: confident learning does not flag it, the app does."""
    p = np.array([[0.9, 0.05, 0.05]] * 10 + [[0.03, 0.95, 0.02]] * 10 + [[0.05, 0.05, 0.9]] * 10
                 + [[0.03, 0.60, 0.37],    # 30: labelled 0, far less likely than class 1 -> flagged, suggest 1
                    [0.35, 0.65, 0.00],    # 31: labelled 0, unsure between 0 and 1 -> not flagged
                    [0.20, 0.02, 0.78]])   # 32: labelled 1, 2% against 78% for class 2 -> flagged, suggest 2
    labels = np.array([0] * 10 + [1] * 10 + [2] * 10 + [0, 0, 1])
    assert 30 not in confident_issues(labels, p)[0].tolist()
    order, suggested = likely_mistakes(labels, p)
    found = dict(zip(order.tolist(), suggested.tolist()))
    assert found[30] == 1 and 31 not in found and found[32] == 2
    assert order.tolist() == sorted(found, key=lambda i: p[i, labels[i]])  # least sure of its label first


def test_a_flag_where_the_model_still_prefers_the_given_class_is_dropped():
    """A class of two images has a low threshold: confident learning flags a correct image whose given class
    the model still prefers; the list does not show it."""
    p = np.array([[0.9, 0.1]] * 20 + [[0.9, 0.1], [0.2, 0.8]] + [[0.55, 0.45]])
    labels = np.array([0] * 20 + [1, 1] + [0])
    assert 22 in confident_issues(labels, p)[0].tolist()  # class 1's threshold is 0.45
    order, suggested = likely_mistakes(labels, p)
    assert 22 not in order.tolist() and 20 in order.tolist() and suggested[order.tolist().index(20)] == 0


def test_out_of_fold_probabilities_never_come_from_a_classifier_that_saw_the_image():
    """A row whose features repeat nowhere else cannot be learnt by heart: its label is invisible to its fold."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = rng.normal(0, 1, (60, 8)) + 4 * np.eye(3, 8)[y]
    y_wrong = y.copy()
    y_wrong[5] = 2  # a class-0 image labelled 2: a classifier trained on it would believe it
    p = out_of_fold_probabilities(x, y_wrong, 3)
    assert p.shape == (60, 3) and np.allclose(p.sum(1), 1)
    assert p[5].argmax() == 0 and p[5, 2] < 0.2  # judged by the others, it looks like class 0


def test_images_in_the_wrong_folder_are_found_and_the_folder_is_untouched(tmp_path):
    classes = ["circle", "square", "triangle"]
    folder = make_class_folder(tmp_path / "shapes", classes, per_class=14, size=64)
    moved = []
    for source, target in zip(classes, classes[1:] + classes[:1]):  # one image of each class into the next folder
        image = sorted((folder / source).iterdir())[0]
        shutil.move(image, folder / target / f"misfiled {image.name}")
        moved.append(str(folder / target / f"misfiled {image.name}"))
    before = tree_fingerprint(folder)
    found = find_label_issues(scan_dataset(folder), image_size=64)
    assert tree_fingerprint(folder) == before
    top = [i.path for i in found.issues[:len(moved) + 2]]
    assert len(set(moved) & set(top)) >= len(moved) - 1, found.to_dict()
    first = next(i for i in found.issues if i.path in moved)
    assert first.suggested != first.given and first.given_probability < first.suggested_probability
    assert found.level in ("final", "both")
    assert all(i.action == action_for(i.suggested_probability) for i in found.issues)


def test_the_command_line_lists_them(tmp_path, capsys):
    import json

    from core.cli.main import main
    folder = make_class_folder(tmp_path / "shapes", ["circle", "square"], per_class=10, size=48)
    image = sorted((folder / "circle").iterdir())[0]
    shutil.move(image, folder / "square" / "misfiled.png")
    assert main(["label-issues", str(folder), "--json", "--quiet", "--image-size", "64"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["images"] == 20 and found["issues"][0]["path"].endswith("misfiled.png")
    assert found["issues"][0]["given"] == "square" and found["issues"][0]["suggested"] == "circle"
    table = tmp_path / "issues.csv"
    assert main(["label-issues", str(folder), "--quiet", "--top", "1", "--image-size", "64", "--csv", str(table)]) == 0
    assert "square → circle" in capsys.readouterr().out
    import csv
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert rows[0]["path"].endswith("misfiled.png") and rows[0]["suggested"] == "circle" and rows[0]["rank"] == "1"
    assert rows[0]["action"] in ("relabel", "exclude") and len(rows) == len(found["issues"])


def test_the_next_images_to_label_are_unsure_and_unlike_each_other():
    from core.methods.next_labels import margins, next_to_label
    rng = np.random.default_rng(0)
    twins = np.tile(rng.normal(0, 1, 16), (20, 1)) + rng.normal(0, 1e-3, (20, 16))  # 20 near-identical images
    others = rng.normal(0, 1, (10, 16))
    features = np.vstack([twins, others])
    unsure = np.full((30, 2), 0.5) + np.c_[np.linspace(0, 0.05, 30), -np.linspace(0, 0.05, 30)]  # all nearly 50/50
    picks = next_to_label(unsure, features, 5)
    assert picks[0] == int(np.argmin(margins(unsure)))  # the least sure first
    assert sum(p < 20 for p in picks) == 1 and len(set(picks)) == 5  # one of the twins is enough
    sure = np.r_[np.tile([[0.99, 0.01]], (20, 1)), np.tile([[0.55, 0.45]], (10, 1))]
    assert set(next_to_label(sure, features, 3)) <= set(range(20, 30))  # the sure ones wait
    labelled = features[20:21]  # already labelled: its near copies are not asked for first
    assert next_to_label(unsure[20:], features[20:], 1, labelled)[0] != 0


def _two_levels(seed: int, earlier_separates: bool):
    """Final features that barely tell 4 classes apart and an earlier level that tells them apart well (or is
    noise), with 10% of the labels flipped."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), 30)
    final = rng.normal(0, 1, (120, 24)) + 0.6 * np.eye(4, 24)[y]
    earlier = rng.normal(0, 1, (120, 8)) + (4.0 * np.eye(4, 8)[y] if earlier_separates else 0.0)
    labels = y.copy()
    flipped = rng.choice(120, 12, replace=False)
    labels[flipped] = (y[flipped] + rng.integers(1, 4, 12)) % 4
    return final, earlier, labels, set(flipped.tolist())


def test_the_earlier_level_is_used_where_its_cross_validated_accuracy_says_it_helps():
    from core.methods.label_issues import probabilities_by_evidence
    final, earlier, labels, flipped = _two_levels(0, earlier_separates=True)
    p, level = probabilities_by_evidence(final, earlier, labels, 4)
    assert level == "both" and p.shape == (120, 4) and np.allclose(p.sum(1), 1)
    order, _ = confident_issues(labels, p)
    assert len(set(order[:12].tolist()) & flipped) >= 9  # found by the level that separates the classes
    alone = out_of_fold_probabilities(final, labels, 4)
    assert len(set(confident_issues(labels, alone)[0][:12].tolist()) & flipped) < 9  # the final level misses them
    assert np.allclose(out_of_fold_probabilities(final, labels, 4, earlier=earlier), p)
    final, earlier, labels, _ = _two_levels(1, earlier_separates=False)
    final = final + 3.0 * np.eye(4, 24)[labels]  # now the final level separates, the earlier one is noise
    assert probabilities_by_evidence(final, earlier, labels, 4)[1] == "final"
    assert probabilities_by_evidence(final, None, labels, 4)[1] == "final"


def test_accepting_relabels_a_confident_suggestion_and_excludes_an_unsure_one():
    from core.methods.label_issues import RELABEL_FROM, LabelIssue
    assert action_for(0.95) == "relabel" and action_for(RELABEL_FROM) == "relabel"
    assert action_for(RELABEL_FROM - 0.01) == "exclude" and action_for(0.2) == "exclude"
    assert LabelIssue("a.png", "cat", "dog", 0.1, 0.6).action == "relabel"  # the default, for older callers
    assert LabelIssue("a.png", "cat", "dog", 0.1, 0.3, "exclude").to_dict()["action"] == "exclude"


def test_an_image_the_model_still_gives_its_own_class_is_not_listed(tmp_path):
    """A class with two images has a low confidence threshold: confident learning flagged correct images of another
    class as 'sand, 12% sure; 58% for gravel', and accepting excluded them (a walkthrough)."""
    folder = make_class_folder(tmp_path / "shapes", ["circle", "square", "triangle"], per_class=14, size=64)
    for extra in sorted((folder / "triangle").iterdir())[2:]:
        extra.unlink()  # a class of two images
    found = find_label_issues(scan_dataset(folder), image_size=64)
    assert all(i.suggested_probability > i.given_probability for i in found.issues), found.to_dict()
