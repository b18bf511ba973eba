"""Which unlabelled images to label next (core.methods.suggest, ``transferlab suggest``): a real tiny run, a folder
of new images, the model's own probabilities and features ordered by core.methods.next_labels; images labelled
already are not suggested again; unreadable files are listed; nothing is written."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.base.cancel import CancelToken
from core.base.errors import Cancelled
from core.cli.main import main
from core.data.dataset import scan_dataset
from core.data.label_sheet import record
from core.evaluation.predict import predict
from core.methods.next_labels import margins, next_to_label
from core.methods.suggest import suggest_labels
from core.models.bundle import load_bundle
from core.models.preprocess import eval_transform
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_image, make_presplit_folder, tree_fingerprint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A pre-split dataset with a folder of unlabelled images inside it (ignored by the scan), and its run."""
    base = tmp_path_factory.mktemp("suggest")
    folder = make_presplit_folder(base / "data", ["a", "b"], train=5, val=2, test=1, size=48)
    new = folder / "unlabelled"
    for i in range(9):  # kinds 0 and 1 are the classes; kind 2 is like neither
        (new / ("more" if i % 2 else "")).mkdir(parents=True, exist_ok=True)
        make_image(i % 3, 48, 900 + i).save(new / ("more" if i % 2 else "") / f"new_{i}.png")
    (new / "broken.png").write_bytes(b"not an image")
    (new / "notes.txt").write_text("not an image either")
    settings = TrainSettings(image_size=48, batch_size=8, epochs=2, strategy="feature-extraction")
    train(scan_dataset(folder), settings, base / "run")
    return folder, new, base / "run"


def test_suggestions_are_the_models_own_numbers_in_next_to_labels_order(trained):
    folder, new, run = trained
    before = tree_fingerprint(folder)
    bundle = load_bundle(run)
    said = []
    found = suggest_labels(bundle, new, 4, progress=lambda done, total, message: said.append((done, total)))
    assert tree_fingerprint(folder) == before and said
    assert found.images == 9 and found.unreadable == [str(new / "broken.png")] and found.reference == 10
    assert len(found.suggestions) == 4 and len({s.path for s in found.suggestions}) == 4
    predicted = {r["path"]: r for r in predict(bundle, [new]) if r["label"]}
    for s in found.suggestions:
        p = np.array([s.probabilities[c] for c in bundle.classes])
        assert s.guess == predicted[s.path]["label"] and s.probability == pytest.approx(p.max())
        assert p == pytest.approx([predicted[s.path]["probabilities"][c] for c in bundle.classes], abs=1e-5)
        assert s.margin == pytest.approx(margins(p[None])[0])

    # The same order from next_to_label on features computed here, through the network's own path.
    paths = sorted(predicted)
    reference = [folder / "train" / c / f"img_{i:03d}.png" for c in ("a", "b") for i in range(5)]
    features, probabilities = _features(bundle, paths + reference)
    order = next_to_label(probabilities[:9], features[:9], 4, features[9:])
    assert [s.path for s in found.suggestions] == [paths[i] for i in order]


def _features(bundle, paths):
    from PIL import Image
    transform = eval_transform(bundle.preprocessing)
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    with torch.inference_mode():
        f = bundle.net.eval().features(x)
        p = (bundle.net.head(f) / bundle.temperature).softmax(1)
    return f.double().numpy(), p.double().numpy()


def test_images_labelled_already_are_not_suggested_again(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    folder, new, run = trained
    bundle = load_bundle(run)
    record(folder, {new / "new_0.png": "a", new / "more" / "new_1.png": "(excluded)"})
    found = suggest_labels(bundle, new, 20)
    assert found.already_labelled == 2 and found.images == 7
    assert {s.path for s in found.suggestions}.isdisjoint({str(new / "new_0.png"), str(new / "more" / "new_1.png")})
    whole = suggest_labels(bundle, folder, 50)  # the dataset folder: not its images in class folders either
    assert whole.already_labelled == 16 + 2 and {s.path for s in whole.suggestions} == \
        {s.path for s in found.suggestions}


def test_cancel_stops_it(trained):
    _, new, run = trained
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        suggest_labels(load_bundle(run), new, 3, cancel=token)


def test_the_command_line_prints_the_order_and_writes_json_or_csv(trained, tmp_path, capsys):
    folder, new, run = trained
    assert main(["suggest", str(run), str(new), "--n", "3", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Label these 3 of 9 unlabelled images first" in text and "1 file(s) could not be read" in text
    assert main(["suggest", str(run), str(new), "--n", "3", "--json", "--csv", str(tmp_path / "s.csv"),
                 "--quiet"]) == 0
    shown = json.loads(capsys.readouterr().out)
    with open(tmp_path / "s.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == [s["path"] for s in shown["suggestions"]] and len(rows) == 3
    assert rows[0]["guess"] == shown["suggestions"][0]["guess"] and set(rows[0]) >= {"rank", "margin", "p_a", "p_b"}
    assert main(["suggest", str(run), str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "Not a folder" in capsys.readouterr().err


def test_new_images_labelled_in_the_sheet_outside_the_dataset_are_not_suggested_again(trained, tmp_path,
                                                                                      monkeypatch):
    import os
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    from core.data.label_sheet import sheet_path
    folder, _, run = trained
    outside = tmp_path / "new"
    outside.mkdir()
    for i in range(3):
        make_image(i % 2, 48, 700 + i).save(outside / f"x{i}.png")
    sheet = sheet_path(folder, create=True)
    sheet.write_text("path,label,source,time\n" + f"{Path(os.path.relpath(outside / 'x1.png', folder)).as_posix()},"
                     "b,new labels,2026-01-01T00:00:00\n", encoding="utf-8")
    found = suggest_labels(load_bundle(run), outside, 5)
    assert found.already_labelled == 1 and sorted(Path(s.path).name for s in found.suggestions) == ["x0.png", "x2.png"]
