"""A classifier on the final and an earlier layer's features side by side (Auto's "both levels" candidate)."""

import json

import pytest
import torch

from core.base.errors import TransferLabError
from core.data.dataset import scan_dataset
from core.evaluation.explain import gradcam
from core.evaluation.export import export_model
from core.evaluation.predict import predict
from core.models.bundle import META_FILE, load_bundle
from core.models.network import TransferNet, cut_levels
from core.models.weights import create_backbone
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder, make_image

LEVEL = 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A final-features run and a run cut at level 3, then the both-levels run on the same images."""
    root = tmp_path_factory.mktemp("levels")
    data = make_class_folder(root / "data", ["circles", "squares", "stripes"], per_class=8, size=64)
    base = TrainSettings(image_size=64, augmentation="none", classifier_fit="converged", epochs=1)
    train(scan_dataset(data), base, root / "final")
    train(scan_dataset(data), TrainSettings(**{**base.to_dict(), "strategy": "truncated", "cut_index": LEVEL}),
          root / "cut")
    train(scan_dataset(data), TrainSettings(**{**base.to_dict(), "with_level": LEVEL}), root / "both")
    make_image(1, size=80, seed=4321).save(root / "new.png")
    return root


def test_the_network_puts_both_levels_side_by_side_from_one_pass():
    model = create_backbone("tf_efficientnet_lite0").model.eval()
    width = cut_levels(model)[LEVEL]["num_chs"]
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    import copy
    final, earlier = TransferNet(copy.deepcopy(model), 2).eval(), TransferNet(copy.deepcopy(model), 2, LEVEL).eval()
    both = TransferNet(copy.deepcopy(model), 2, with_level=LEVEL).eval()
    assert both.head.in_features == final.head.in_features + width
    with torch.no_grad():
        torch.testing.assert_close(both.features(x), torch.cat([final.features(x), earlier.features(x)], 1),
                                   atol=1e-5, rtol=1e-4)
    with pytest.raises(TransferLabError, match="no final features"):
        TransferNet(copy.deepcopy(model), 2, cut_index=LEVEL, with_level=LEVEL)


def test_the_run_reads_each_part_from_the_runs_that_cached_it_and_ships_both(runs):
    meta = json.loads((runs / "both" / META_FILE).read_text())
    assert meta["compute"]["reused"] is True, meta["compute"]  # nothing computed: both parts were cached
    assert "final and earlier-layer features" in meta["compute"]["summary"] and meta["with_level"] == LEVEL
    bundle = load_bundle(runs / "both")
    assert bundle.net.with_level == LEVEL and bundle.net.head.in_features > 1280
    row = predict(bundle, [runs / "new.png"])[0]
    assert abs(sum(row["probabilities"].values()) - 1) < 1e-5


def _features(bundle, paths):
    """Each image's features as the saved network computes them (evaluation crop)."""
    from core.data.images import load_rgb
    from core.models.preprocess import eval_transform
    transform = eval_transform(bundle.preprocessing)
    with torch.no_grad():
        return bundle.net.eval().features(torch.stack([transform(load_rgb(p)) for p in paths])).double().numpy()


def test_the_saved_classifier_averages_the_one_on_both_levels_and_the_one_on_the_earlier_alone(runs):
    """Refitted on every labelled image, each at the strength cross-validation chose: the head's scores are the
    mean of the two fits' scores (bench.tta_ensemble: never less accurate than the first alone on 7 sets)."""
    import numpy as np

    from core.data.dataset import make_split
    from core.training.linear_head import fit_linear
    bundle = load_bundle(runs / "both")
    parts = bundle.meta["compute"]["classifier"]["parts"]
    assert [p["from_column"] for p in parts] == [0, 1280] and bundle.meta["refit"]["images"] == 24
    settings = TrainSettings(image_size=64)
    split = make_split(scan_dataset(runs / "data"), settings.val_fraction, settings.seed)
    x, y = _features(bundle, [i.path for i in split.train + split.val]), [i.label for i in split.train + split.val]
    whole, earlier = (fit_linear(x[:, p["from_column"]:], y, 3, l2=p["l2"]) for p in parts)
    expected = (whole.logits(x) + earlier.logits(x[:, 1280:])) / 2
    with torch.no_grad():
        got = bundle.net.head(torch.from_numpy(x).float()).double().numpy()
    alone = whole.logits(x)  # what a head on both levels alone would score
    miss = np.abs(got - expected).max()  # not 0: these features are not the cache's (its decoding, a folded network)
    assert miss < np.abs(got - alone).max() / 3, (miss, np.abs(got - alone).max())  # here 0.19 against 0.92


def test_export_and_gradcam_work_on_both_levels(runs, tmp_path):
    bundle = load_bundle(runs / "both")
    assert export_model(bundle, tmp_path / "model.onnx", "onnx").max_abs_difference <= 1e-4
    from core.data.images import load_rgb
    from core.models.preprocess import eval_transform
    x = eval_transform(bundle.preprocessing)(load_rgb(runs / "new.png")).unsqueeze(0)
    heatmap, index, probabilities, _ = gradcam(bundle.net, x)
    assert heatmap.shape == (64, 64) and 0 <= index < 3 and abs(sum(probabilities) - 1) < 1e-4
    assert heatmap.max() > 0  # the final part's map carries the class evidence
    with torch.no_grad():  # the map's head on its feature map gives the model's own probabilities
        expected = bundle.net(x).softmax(-1)[0].tolist()
    assert max(abs(a - b) for a, b in zip(probabilities, expected)) < 1e-4


def test_the_unknown_score_reads_the_earlier_level_and_travels_into_the_export(runs, tmp_path):
    """bench.unknown: the earlier level's features tell images of no class apart best; a two-level model's
    score reads those columns alone, and the exported file computes the same number."""
    bundle, final = load_bundle(runs / "both"), load_bundle(runs / "final")
    width = cut_levels(bundle.net.backbone)[LEVEL]["num_chs"]
    described = bundle.meta["unknown"]
    assert described["features"] == width and described["first_column"] == bundle.net.head.in_features - width
    assert final.meta["unknown"]["first_column"] == 0 and final.meta["unknown"]["features"] == final.net.head.in_features
    export_model(bundle, tmp_path / "model.onnx", "onnx")
    import numpy as np
    import onnxruntime
    from core.data.images import load_rgb
    from core.models.preprocess import eval_transform
    x = eval_transform(bundle.preprocessing)(load_rgb(runs / "new.png")).unsqueeze(0).numpy()
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (unknown,) = session.run(["unknown_score"], {"image": x})
    assert abs(float(unknown[0]) - predict(bundle, [runs / "new.png"])[0]["unknown_score"]) < 1e-4


def test_both_levels_need_frozen_features_without_augmentation():
    with pytest.raises(TransferLabError, match="feature extraction without augmentation"):
        TrainSettings(strategy="fine-tune-top", freeze_depth=2, with_level=LEVEL).validate()
    with pytest.raises(TransferLabError, match="feature extraction without augmentation"):
        TrainSettings(augmentation="light", with_level=LEVEL).validate()
