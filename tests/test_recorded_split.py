"""A trained model is measured on the images its run held out (run.json), not on today's split: corrected labels
move images between training and validation (a walkthrough saw 88.9% on 9 images become 100% on 3 others)."""

import json
from pathlib import Path

from core.data import label_sheet
from core.data.dataset import make_split, scan_dataset
from core.evaluation.predict import evaluate, evaluation_items
from core.models.bundle import load_bundle
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder, tree_fingerprint

CLASSES = ["circles", "squares", "stripes"]
FAST = TrainSettings(image_size=64, batch_size=8, epochs=1, augmentation="none")


def _paths(items) -> set[str]:
    return {str(i.path) for i in items}


def test_a_run_is_scored_on_the_validation_images_it_recorded_after_labels_change(tmp_path):
    data = make_class_folder(tmp_path / "shapes", CLASSES, per_class=10, size=64)
    before = tree_fingerprint(data)
    train(scan_dataset(data), FAST, tmp_path / "run")
    recorded = {str(data / rel) for rel, _ in json.loads((tmp_path / "run" / "run.json").read_text())["split"]["val"]}
    first = scan_dataset(data)
    # Leave out two training images of the first class: today's seeded split then holds out other images.
    train_only = [i for i in first.all_items() if str(i.path) not in recorded and i.label == 0][:2]
    label_sheet.record(data, {str(i.path): label_sheet.EXCLUDED for i in train_only})
    corrected = scan_dataset(data)
    today = make_split(corrected, FAST.val_fraction, FAST.seed).val
    assert _paths(today) != recorded  # else this test could not tell the two apart
    bundle = load_bundle(tmp_path / "run")
    which, items = evaluation_items(bundle, corrected)
    assert which.startswith("val") and _paths(items) == recorded
    report = evaluate(bundle, corrected)
    assert {r["path"] for r in report.images} == recorded and report.num_images == len(recorded)
    assert report.labels_changed == {}  # only training images were left out
    held = sorted(recorded)
    label_sheet.record(data, {held[0]: label_sheet.EXCLUDED, held[1]: CLASSES[(CLASSES.index(
        Path(held[1]).parent.name) + 1) % 3]})  # one validation image left out, one relabelled
    report = evaluate(bundle, scan_dataset(data))
    assert report.num_images == len(recorded) - 1
    assert report.labels_changed == {"recorded": len(recorded), "left_out": 1, "relabelled": 1}
    # Another run's recorded images, to compare two models on the same pictures (before/after corrections).
    other = tmp_path / "other"
    train(corrected, FAST, other)
    assert _paths(evaluation_items(bundle, corrected, split_from=other)[1]) == _paths(today)
    # A model folder without its run.json (copied elsewhere) falls back to the seeded split of today's folder.
    (tmp_path / "run" / "run.json").unlink()
    assert _paths(evaluation_items(load_bundle(tmp_path / "run"), corrected)[1]) == _paths(today)
    assert tree_fingerprint(data) == before


def test_results_words_say_why_an_opened_runs_images_changed():
    from types import SimpleNamespace

    from core.evaluation.result_words import measured_on
    evaluation = SimpleNamespace(split="val (held out during training)", num_images=38, folder="/d",
                                 labels_changed={"recorded": 39, "left_out": 1, "relabelled": 0})
    assert measured_on(evaluation, None) == ("38 validation images held out during training (of the 39 it held out, "
                                             "1 left out by your label corrections since; scored with the labels as "
                                             "they are now)")
    evaluation.labels_changed = {}
    assert measured_on(evaluation, None) == "38 validation images held out during training"
