"""Crash-safe runs: a run interrupted mid-epoch resumes from its checkpoint and ends exactly like an
uninterrupted one; a real SIGKILL of `transferlab train` is survived; interrupted runs are found."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core.base.errors import TransferLabError
from core.data.dataset import scan_dataset
from core.training import runs
from core.training.events import TrainCallback
from core.training.settings import TrainSettings
from core.training.trainer import CHECKPOINT_FILE, resume_training, train
from tests.datagen import make_class_folder

ROOT = Path(__file__).resolve().parents[1]


class Boom(Exception):
    """Stands in for the process dying in the middle of an epoch."""


class DieInEpoch(TrainCallback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_batch_end(self, event):
        if event.epoch == self.epoch and event.batch == 2:
            raise Boom()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_class_folder(tmp_path_factory.mktemp("d") / "shapes", ["a", "b", "c"], per_class=12, size=48)


def _strip(history):
    return [{k: v for k, v in e.items() if k not in ("seconds", "eta_s")} for e in history]


ENGINES = {
    "cached features, augmented views": TrainSettings(image_size=48, batch_size=8, epochs=4, augmentation="light"),
    "freeze-boundary cache": TrainSettings(image_size=48, batch_size=8, epochs=4, augmentation="none",
                                           strategy="fine-tune-top", freeze_depth=3, head_lr=1e-3),
    "decoded images, augmentation, dropout": TrainSettings(model_name="test_efficientnet", weights="none",
                                                           image_size=48, batch_size=8, epochs=4,
                                                           augmentation="standard", strategy="fine-tune-all",
                                                           freeze_depth=5),
    "plain path": TrainSettings(image_size=48, batch_size=8, epochs=4, augmentation="light", speedups=False),
}


@pytest.mark.parametrize("name", ENGINES)
def test_a_run_interrupted_mid_epoch_resumes_to_the_same_result(data, tmp_path, name):
    settings = ENGINES[name]
    whole = train(scan_dataset(data), settings, tmp_path / "whole")
    with pytest.raises(Boom):
        train(scan_dataset(data), settings, tmp_path / "cut", DieInEpoch(3))
    assert torch.load(tmp_path / "cut" / CHECKPOINT_FILE, weights_only=True)["epoch"] == 2
    resumed = resume_training(tmp_path / "cut")
    assert _strip(resumed.history) == _strip(whole.history)
    assert resumed.best_epoch == whole.best_epoch and runs.read_record(tmp_path / "cut")["status"] == runs.FINISHED


def test_sigkill_during_training_then_resume_from_the_command_line(data, tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", str(data), "--out", str(run_dir), "--strategy", "fine-tune-all", "--model",
            "test_efficientnet", "--no-pretrained", "--image-size", "64", "--batch-size", "4", "--epochs", "6",
            "--quiet"]
    code = "import sys\nfrom app.entry import main\nsys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "TRANSFERLAB_DATA_DIR": str(tmp_path / "appdata")}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    while runs.checkpoint_epoch(run_dir) is None or runs.checkpoint_epoch(run_dir) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    record = runs.read_record(run_dir)
    assert record["status"] == runs.RUNNING and not runs.is_training_elsewhere(run_dir)
    assert [r["run_dir"] for r in runs.interrupted_runs(tmp_path)] == [str(run_dir)]
    killed_after = runs.checkpoint_epoch(run_dir)
    out = subprocess.run([sys.executable, "-c", code, "train", "--resume", str(run_dir), "--json", "--quiet"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    import json
    resumed = json.loads(out.stdout)
    assert [e["epoch"] for e in resumed["history"]] == list(range(1, 7)) and killed_after < 6
    whole = subprocess.run([sys.executable, "-c", code, *args[:3], str(tmp_path / "whole"), *args[4:], "--json"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert _strip(json.loads(whole.stdout)["history"]) == _strip(resumed["history"])
    assert runs.interrupted_runs(tmp_path) == []


def test_resume_refuses_what_cannot_be_resumed(data, tmp_path):
    settings = TrainSettings(image_size=48, batch_size=8, epochs=2, augmentation="none")
    train(scan_dataset(data), settings, tmp_path / "done")
    with pytest.raises(TransferLabError, match="already finished"):
        resume_training(tmp_path / "done")
    with pytest.raises(TransferLabError, match="not a TransferLab run folder"):
        resume_training(tmp_path / "nothing")
    with pytest.raises(Boom):
        train(scan_dataset(data), replace(settings, epochs=3), tmp_path / "early", DieInEpoch(1))
    with pytest.raises(TransferLabError, match="no checkpoint"):
        resume_training(tmp_path / "early")


def test_resume_refuses_when_images_have_gone(data, tmp_path):
    import shutil
    copy = shutil.copytree(data, tmp_path / "copy")
    settings = TrainSettings(image_size=48, batch_size=8, epochs=3, augmentation="none")
    with pytest.raises(Boom):
        train(scan_dataset(copy), settings, tmp_path / "run", DieInEpoch(2))
    next((copy / "b").iterdir()).unlink()
    with pytest.raises(TransferLabError, match="no longer in"):
        resume_training(tmp_path / "run")


def test_one_process_at_a_time_trains_in_a_run_folder(data, tmp_path):
    with runs.RunLock(tmp_path / "run"):
        assert runs.is_training_elsewhere(tmp_path / "run")
        with pytest.raises(TransferLabError, match="Another TransferLab process"):
            train(scan_dataset(data), TrainSettings(image_size=48, epochs=1), tmp_path / "run")
    assert not runs.is_training_elsewhere(tmp_path / "run")


def test_a_new_run_never_overwrites_an_unfinished_one_by_accident(data, tmp_path):
    settings = TrainSettings(image_size=48, batch_size=8, epochs=3, augmentation="none")
    with pytest.raises(Boom):
        train(scan_dataset(data), settings, tmp_path / "run", DieInEpoch(2))
    with pytest.raises(TransferLabError, match="--resume"):
        train(scan_dataset(data), settings, tmp_path / "run")
    assert runs.checkpoint_epoch(tmp_path / "run") == 1
    train(scan_dataset(data), replace(settings, epochs=1), tmp_path / "run", overwrite=True)


class CancelInEpoch(TrainCallback):
    """Presses Cancel in the middle of ``epoch`` (as the window's button does: the token only)."""

    def __init__(self, token, epoch: int):
        self.token, self.epoch = token, epoch

    def on_batch_end(self, event):
        if event.epoch == self.epoch and event.batch == 2:
            self.token.cancel()


def test_cancel_keeps_the_best_epoch_as_a_model_that_resumes_to_the_planned_end(data, tmp_path):
    from core.base.cancel import CancelToken
    from core.evaluation.predict import predict
    from core.models.bundle import load_bundle
    settings = ENGINES["freeze-boundary cache"]
    token = CancelToken()
    result = train(scan_dataset(data), settings, tmp_path / "run", CancelInEpoch(token, 3), token)
    assert result.cancelled and result.stopped_early and len(result.history) == 2 and result.best_epoch in (1, 2)
    bundle = load_bundle(tmp_path / "run")
    assert bundle.meta["stopped"] == {"reason": "cancelled", "after_epoch": 2, "of": 4}
    assert predict(bundle, [next(data.rglob("*.png"))])[0]["label"] in ("a", "b", "c")
    record = runs.read_record(tmp_path / "run")
    assert record["status"] == runs.CANCELLED and "best epoch" in record["message"]
    assert runs.resumable(tmp_path / "run")["checkpoint_epoch"] == 2
    assert runs.interrupted_runs(tmp_path) == []  # Cancel is not a crash: offered on Open, not at startup
    resumed = resume_training(tmp_path / "run")
    assert [e["epoch"] for e in resumed.history] == [1, 2, 3, 4] and not resumed.cancelled
    assert "stopped" not in load_bundle(tmp_path / "run").meta and runs.resumable(tmp_path / "run") is None


def test_cancel_before_the_first_epoch_ends_keeps_nothing_to_resume(data, tmp_path):
    from core.base.cancel import CancelToken
    from core.base.errors import Cancelled
    token = CancelToken()
    with pytest.raises(Cancelled):
        train(scan_dataset(data), ENGINES["freeze-boundary cache"], tmp_path / "run", CancelInEpoch(token, 1), token)
    assert runs.resumable(tmp_path / "run") is None


def test_a_run_paused_by_quit_is_offered_at_the_next_start_like_a_crash(data, tmp_path):
    from core.base.cancel import CancelToken
    token = CancelToken()
    train(scan_dataset(data), ENGINES["freeze-boundary cache"], tmp_path / "runs" / "r", CancelInEpoch(token, 2), token)
    assert runs.pause(tmp_path / "runs" / "r")
    found = runs.interrupted_runs(tmp_path / "runs")
    assert [(r["run_dir"], r["status"], r["checkpoint_epoch"]) for r in found] == \
        [(str(tmp_path / "runs" / "r"), runs.PAUSED, 1)]
    assert not runs.pause(tmp_path / "nothing")


def test_ctrl_c_in_the_command_line_keeps_a_model_and_says_how_to_continue(data, tmp_path):
    run_dir = tmp_path / "run"
    code = "import sys\nfrom app.entry import main\nsys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "TRANSFERLAB_DATA_DIR": str(tmp_path / "appdata")}
    proc = subprocess.Popen([sys.executable, "-c", code, "train", str(data), "--out", str(run_dir), "--strategy",
                             "fine-tune-all", "--model", "test_efficientnet", "--no-pretrained", "--image-size", "48",
                             "--batch-size", "4", "--epochs", "30", "--json", "--quiet"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not runs.checkpoint_epoch(run_dir):
        assert proc.poll() is None and time.monotonic() < deadline, "training ended before Ctrl-C"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    import json
    report = json.loads(out)
    assert proc.returncode == 130 and report["cancelled"] and len(report["history"]) < 30, err
    assert (run_dir / "transferlab.json").is_file() and runs.resumable(run_dir)
