"""Export round trips: the ONNX and TorchScript files give the trained model's probabilities."""

import json

import numpy as np
import pytest
import torch

from core.base.errors import TransferLabError
from core.data.dataset import scan_dataset
from core.evaluation import export
from core.evaluation.export import ExportError, export_model
from core.evaluation.predict import predict
from core.models.bundle import load_bundle
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder, make_image


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    data = make_class_folder(root / "data", ["circles", "squares", "stripes"], per_class=8, size=64)
    train(scan_dataset(data), TrainSettings(image_size=64, epochs=2, batch_size=8), root / "run")
    make_image(1, size=80, seed=4321).save(root / "new.png")
    return root


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory):
    """A run whose fine-tuning steps used bf16 where the plan has it (forced on CPUs without it)."""
    root = tmp_path_factory.mktemp("export-ft")
    data = make_class_folder(root / "data", ["circles", "squares"], per_class=6, size=48)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERLAB_CPU_BF16", "1")
        train(scan_dataset(data), TrainSettings(image_size=48, epochs=1, batch_size=6, strategy="fine-tune-top",
                                                freeze_depth=2, two_stage=False, augmentation="none"), root / "run")
    make_image(1, size=60, seed=99).save(root / "new.png")
    return root


def _preprocessed(bundle, path):
    from core.data.images import load_rgb
    from core.models.preprocess import eval_transform
    return eval_transform(bundle.preprocessing)(load_rgb(path)).unsqueeze(0)


def test_onnx_export_round_trip(run, tmp_path):
    bundle = load_bundle(run / "run")
    result = export_model(bundle, tmp_path / "model.onnx", "onnx")
    assert result.max_abs_difference <= 1e-4 and "your images" in result.images
    side = json.loads((tmp_path / "model.onnx.json").read_text())
    assert side["classes"] == ["circles", "squares", "stripes"] and side["temperature"] == bundle.temperature
    assert side["preprocessing"]["centre_crop"] == 64 and side["input"]["layout"] == "NCHW"
    import onnxruntime
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    x = _preprocessed(bundle, run / "new.png").numpy()
    exported, unknown = session.run(["probabilities", "unknown_score"], {"image": np.concatenate([x, x])})
    ours = predict(bundle, [run / "new.png"])[0]
    assert exported.shape == (2, 3) and unknown.shape == (2,)  # any batch size
    assert np.abs(exported[0] - [ours["probabilities"][c] for c in bundle.classes]).max() < 1e-4
    assert abs(unknown[0] - ours["unknown_score"]) < 1e-4  # "I don't know" travels with the model
    assert side["unknown_score"]["threshold"] == bundle.meta["unknown"]["threshold"]


def test_torchscript_export_round_trip(run, tmp_path):
    bundle = load_bundle(run / "run")
    result = export_model(bundle, tmp_path, "torchscript")  # a folder: named after the run
    path = tmp_path / "run.pt"
    assert result.path == str(path) and (tmp_path / "run.pt.json").is_file()
    extra = {"transferlab.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["transferlab.json"])["classes"] == bundle.classes
    with torch.inference_mode():
        probabilities, unknown = loaded(_preprocessed(bundle, run / "new.png"))
    ours = predict(bundle, [run / "new.png"])[0]
    assert np.abs(probabilities[0].numpy() - [ours["probabilities"][c] for c in bundle.classes]).max() < 1e-4
    assert abs(float(unknown[0]) - ours["unknown_score"]) < 1e-4


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_what_predict_shows_is_what_the_export_computes_under_either_cpu_plan(fine_tuned, tmp_path, fmt,
                                                                            cpu_precision):
    """The precision rule: predictions are fp32 whatever precision trained the model and whatever the
    CPU, so an exported fp32 file reproduces them within the README's 1e-4."""
    bundle = load_bundle(fine_tuned / "run")
    assert bundle.meta["compute"]["precision"] == "bf16"
    result = export_model(bundle, tmp_path / f"m.{fmt}", fmt)
    assert result.max_abs_difference <= 1e-4
    x = _preprocessed(bundle, fine_tuned / "new.png")
    if fmt == "onnx":
        import onnxruntime
        session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        exported = session.run(["probabilities"], {"image": x.numpy()})[0][0]
    else:
        with torch.inference_mode():
            exported = torch.jit.load(str(tmp_path / "m.torchscript"))(x)[0][0].numpy()
    ours = predict(bundle, [fine_tuned / "new.png"])[0]["probabilities"]
    assert np.abs(exported - [ours[c] for c in bundle.classes]).max() < 1e-4


def test_an_export_that_does_not_match_fails_loudly_and_leaves_nothing(run, tmp_path, monkeypatch):
    bundle = load_bundle(run / "run")
    real = export._run_onnx
    monkeypatch.setattr(export, "_run_onnx", lambda *args: [a + 0.01 for a in real(*args)])
    with pytest.raises(ExportError, match="does not reproduce the trained model"):
        export_model(bundle, tmp_path / "bad.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_is_refused(run, tmp_path):
    with pytest.raises(TransferLabError, match="Unknown export format"):
        export_model(load_bundle(run / "run"), tmp_path / "m.tflite", "tflite")
