"""Labelling the most useful images first (core.methods.labelling): a real tiny run, a folder of new images; the
guess is the session's classifier's, the order is next_to_label's, labels refit it and the held-out accuracy is
recorded after each refresh; nothing is written."""

import numpy as np
import pytest

from core.base.errors import DatasetError, TransferLabError
from core.data.dataset import scan_dataset
from core.methods.labelling import LabellingSession
from core.methods.next_labels import next_to_label
from core.models.bundle import load_bundle
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder, make_image, tree_fingerprint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("labelling")
    folder = make_class_folder(base / "data", ["circle", "square"], per_class=8, size=48)
    new = base / "unlabelled"
    new.mkdir()
    for i in range(10):
        make_image(i % 2, 48, 700 + i).save(new / f"new_{i}.png")
    (new / "broken.png").write_bytes(b"not an image")
    settings = TrainSettings(image_size=48, batch_size=8, epochs=1, strategy="feature-extraction",
                             classifier_fit="converged", augmentation="none")
    train(scan_dataset(folder), settings, base / "run")
    return folder, new, base / "run"


def test_a_session_guesses_orders_learns_from_labels_and_scores_held_out_images(trained):
    folder, new, run = trained
    before, before_new = tree_fingerprint(folder), tree_fingerprint(new)
    said = []
    session = LabellingSession(load_bundle(run), new, progress=lambda d, t, m: said.append(m))
    assert said and len(session.paths) == 10 and session.unreadable == [str(new / "broken.png")]
    assert len(session.x_train) + len(session.x_val) == 16 and len(session.x_val) > 0
    assert len(session.history) == 1 and 0.0 <= session.history[0].accuracy <= 1.0

    first = session.next(3)
    rows = session.remaining()
    assert first == [rows[i] for i in next_to_label(session.probabilities[rows], session.x_new[rows], 3,
                                                    session.x_train)]
    guess, p = session.guess(first[0])
    assert guess in session.classes and p == pytest.approx(session.probabilities[first[0]].max())

    truth = {i: ("circle" if "new_" in str(path) and int(path.stem.split("_")[1]) % 2 == 0 else "square")
            for i, path in enumerate(session.paths)}
    for i in first:
        session.label(i, truth[i])
    session.put_aside(session.next(1)[0])  # skipped: not shown again
    assert session.labels_since_refresh() == 3
    shown = set(first) | session.set_aside
    assert not shown & set(session.next(10)) and len(session.remaining()) == 6
    step = session.refresh()
    assert step.labels == 3 and len(session.history) == 2 and session.labels_since_refresh() == 0
    assert all(session.guess(i)[0] == truth[i] for i in first)  # it learnt the labels it was given
    session.unlabel(first[0])
    assert first[0] in session.remaining()
    assert tree_fingerprint(folder) == before and tree_fingerprint(new) == before_new  # nothing is written


def test_a_session_says_what_is_wrong(trained, tmp_path):
    folder, new, run = trained
    with pytest.raises(TransferLabError, match="Not a folder"):
        LabellingSession(load_bundle(run), tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="No unlabelled images"):
        LabellingSession(load_bundle(run), tmp_path / "empty")
    with pytest.raises(TransferLabError, match="inside the dataset folder"):  # labels there would be lost
        LabellingSession(load_bundle(run), folder)
    assert np.isfinite(LabellingSession(load_bundle(run), new).history[0].accuracy)
