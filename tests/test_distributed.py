"""Distributed training (core.training.distributed): two CPU processes with gloo under torchrun train the same
run as one process with the same batch size. "Pretrained" weights are fixed random initialisations of
timm's tiny test networks, imported as weights files; the GroupNorm variant has no batch statistics, so
even fine-tuning matches a single process to float precision."""

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from core.cli.main import main
from core.data.dataset import scan_dataset
from core.evaluation.predict import predict
from core.models.bundle import WEIGHTS_FILE, load_bundle
from core.training.cluster import write_config
from core.training.settings import TrainSettings
from core.training.trainer import resume_training, train
from tests.datagen import make_class_folder
from tests.precision import run_precision, tolerance
from tests.test_resume import Boom, DieInEpoch, _strip

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_class_folder(tmp_path_factory.mktemp("d") / "shapes", {"a": 0, "b": 1, "c": 2}, per_class=10, size=48)


def _weights(folder: Path, model: str) -> Path:
    torch.manual_seed(123)
    path = folder / f"{model}.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model(model).state_dict().items()}, str(path))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args: list[str], nproc: int = 2, timeout: float = 240) -> dict:
    """``python -m core.cli train ARGS --distributed --json`` in ``nproc`` processes; rank 0's JSON."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "-m", "core.cli", "train", *args, "--distributed", "--json",
           "--quiet", "--dist-timeout", "120"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _close(a: list[dict], b: list[dict], tol: float) -> None:
    assert len(a) == len(b)
    for x, y in zip(_strip(a), _strip(b)):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float):
                assert x[k] == pytest.approx(y[k], abs=tol), (x["epoch"], k, x[k], y[k])
            else:
                assert x[k] == y[k], (x["epoch"], k)


def _max_weight_diff(a: Path, b: Path) -> float:
    """The largest difference of a trained weight. The unknown score's numbers (core.models.unknown_score) are
    left out: they are statistics of the features, whose whitening scales a bf16 difference of the features up
    (both runs still have them)."""
    p, q = load_file(str(a / WEIGHTS_FILE)), load_file(str(b / WEIGHTS_FILE))
    assert p.keys() == q.keys()
    return max((p[k].float() - q[k].float()).abs().max().item() for k in p if not k.startswith("unknown."))


def test_feature_extraction_two_processes_match_one(data, tmp_path, cpu_precision):
    """Cached features (rank 0 computes, rank 1 reads the disk cache), class weights, batches of 7 split
    4 + 3 between the ranks, settings from --config with a flag overriding the file."""
    settings = TrainSettings(model_name="test_efficientnet", weights_file=str(_weights(tmp_path, "test_efficientnet")),
                             image_size=48, batch_size=7, epochs=4, augmentation="none", strategy="feature-extraction",
                             head_lr=3e-2, class_weighting="on", label_smoothing=0.1)
    config = tmp_path / "run-config.json"
    write_config(config, data, settings.to_dict())
    out = _torchrun(["--config", str(config), "--out", str(tmp_path / "two"), "--epochs", "3"])
    one = train(scan_dataset(data), replace(settings, epochs=3), tmp_path / "one")
    assert out["history"][-1]["epoch"] == 3  # the flag overrode the file's 4 epochs
    assert run_precision(tmp_path / "one") == "fp32"  # only the classifier trains: fp32 under either plan
    _close(one.history, out["history"], 1e-5)
    assert _max_weight_diff(tmp_path / "one", tmp_path / "two") < 1e-5
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    record = json.loads((tmp_path / "two" / "run.json").read_text())
    assert record["status"] == "finished" and record["settings"]["epochs"] == 3
    bundle = load_bundle(tmp_path / "two")
    reference = load_bundle(tmp_path / "one").meta["calibration"]  # fitted on rank 0 from all ranks' logits
    assert bundle.meta["calibration"]["fitted"] == reference["fitted"]
    assert bundle.meta["calibration"].get("temperature", 1.0) == pytest.approx(reference.get("temperature", 1.0),
                                                                                 rel=1e-3)
    images = sorted((data / "b").iterdir())[:3]
    assert len(predict(bundle, images, "cpu")) == 3


def test_fine_tuning_resumed_on_two_processes_matches_one(data, tmp_path, cpu_precision):
    """A two-stage, gradually unfrozen, L2-SP fine-tuning run (decoded-image engine, the whole network
    in DDP, re-wrapped at each unfreezing) interrupted in epoch 2 and resumed by two processes ends as an
    uninterrupted single-process run."""
    settings = TrainSettings(model_name="test_efficientnet_gn", image_size=48, batch_size=8, epochs=3,
                             weights_file=str(_weights(tmp_path, "test_efficientnet_gn")), augmentation="none",
                             strategy="fine-tune-all", freeze_depth=6, head_lr=1e-2, backbone_lr=3e-3,
                             two_stage=True, head_epochs=1, gradual_unfreeze=True, l2sp_alpha=0.01,
                             class_weighting="on")
    whole = train(scan_dataset(data), settings, tmp_path / "whole")
    with pytest.raises(Boom):
        train(scan_dataset(data), settings, tmp_path / "split", callback=DieInEpoch(2))
    out = _torchrun(["--resume", str(tmp_path / "split")])
    assert run_precision(tmp_path / "whole") == cpu_precision
    _close(whole.history, out["history"], tolerance(cpu_precision, 1e-4))
    assert [e["trainable_groups"] for e in out["history"]] == [0, 1, 2]
    assert _max_weight_diff(tmp_path / "whole", tmp_path / "split") < tolerance(cpu_precision, 1e-3)
    # and the distributed checkpoint resumes in one process: nothing left to do but it is readable
    assert json.loads((tmp_path / "split" / "run.json").read_text())["status"] == "finished"
    with pytest.raises(Exception, match="already finished"):
        resume_training(tmp_path / "split")


def test_distributed_outside_torchrun_is_refused(data, tmp_path, monkeypatch, capsys):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert main(["train", str(data), "--out", str(tmp_path / "r"), "--distributed"]) != 0
    assert "torchrun" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_config_file_errors_are_clear(data, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else", "settings": {}}')
    assert main(["train", str(data), "--out", str(tmp_path / "r"), "--config", str(bad)]) != 0
    assert "not a TransferLab run configuration" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="NCCL needs CUDA")
def test_nccl_on_one_gpu(data, tmp_path):
    settings = TrainSettings(model_name="test_efficientnet", weights_file=str(_weights(tmp_path, "test_efficientnet")),
                             image_size=48, batch_size=8, epochs=2, augmentation="light", strategy="fine-tune-all",
                             freeze_depth=6)
    config = tmp_path / "run-config.json"
    write_config(config, data, settings.to_dict())
    out = _torchrun(["--config", str(config), "--out", str(tmp_path / "gpu")], nproc=1)
    assert len(out["history"]) == 2
    assert load_bundle(tmp_path / "gpu").meta["device"].startswith("CUDA")
