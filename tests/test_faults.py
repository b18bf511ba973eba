"""Faults: out of memory, a full disk or read-only folder when saving, and Cancel felt within 2 s.

Out-of-memory and disk-full conditions are injected at the boundary where the operating system or
the allocator would raise them (a forward hook, the file write); everything else runs for real."""

import errno
import json
import os
import threading
import time
from dataclasses import replace

import pytest
import torch

from core.base.cancel import CancelToken
from core.base.errors import BundleError, Cancelled, TransferLabError
from core.data.dataset import scan_dataset
from core.models.bundle import META_FILE, WEIGHTS_FILE, export_bundle, load_bundle, save_bundle
from core.training import run_setup, step
from core.training.events import TrainCallback
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder
from tests.precision import run_precision, tolerance


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_class_folder(tmp_path_factory.mktemp("d") / "shapes", ["a", "b", "c"], per_class=12, size=48)


class Messages(TrainCallback):
    def __init__(self):
        self.lines: list[str] = []

    def on_status(self, message):
        self.lines.append(message)


def _fail_batches_larger_than(monkeypatch, limit: int, error: BaseException):
    """Make the trained module raise ``error`` for batches over ``limit`` images, as an allocator would."""
    original = run_setup.make_engine

    def make_engine(*args, **kwargs):
        engine = original(*args, **kwargs)

        def hook(module, inputs):
            if len(inputs[0]) > limit:
                raise error
        engine.module.register_forward_pre_hook(hook)
        return engine
    monkeypatch.setattr(run_setup, "make_engine", make_engine)


FINE_TUNE_GN = dict(model_name="test_efficientnet_gn", weights="none", strategy="fine-tune-all", freeze_depth=6,
                    two_stage=False)  # GroupNorm: half batches normalise exactly as whole ones


@pytest.mark.parametrize("strategy", [{}, FINE_TUNE_GN], ids=["classifier", "fine-tuning"])
def test_gpu_out_of_memory_retries_in_half_batches_with_the_same_result(data, tmp_path, monkeypatch, strategy,
                                                                         cpu_precision):
    settings = TrainSettings(image_size=48, batch_size=8, epochs=2, augmentation="none", **strategy)
    normal = train(scan_dataset(data), settings, tmp_path / "normal")
    monkeypatch.setattr(step, "OOM_SPLIT_DEVICES", ("cpu",))  # behave as on a GPU
    _fail_batches_larger_than(monkeypatch, 4, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    said = Messages()
    split = train(scan_dataset(data), settings, tmp_path / "split", said)
    assert any("continuing with 4 at a time" in line for line in said.lines)
    tol = tolerance(run_precision(normal.run_dir), 1e-5)  # half batches sum their roundings differently
    for a, b in zip(normal.history, split.history, strict=True):  # gradient accumulation: the same steps
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=tol)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=tol)


def test_cpu_out_of_memory_is_a_readable_error(data, tmp_path, monkeypatch):
    _fail_batches_larger_than(monkeypatch, 4, RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                                                           "can't allocate memory: you tried to allocate 9663676416"))
    with pytest.raises(TransferLabError, match="Not enough memory to train with batches of 8 images on CPU"):
        train(scan_dataset(data), TrainSettings(image_size=48, batch_size=8, epochs=1), tmp_path / "run")


class _DiskFull:
    """Writes half of what it is given, then fails like a full disk."""

    def __init__(self, real):
        self.real = real

    def __call__(self, tmp, *args):
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")


def _bundle(tmp_path, data):
    train(scan_dataset(data), TrainSettings(image_size=48, epochs=1, augmentation="none"), tmp_path / "run")
    return load_bundle(tmp_path / "run")


def test_a_full_disk_leaves_the_previous_model_intact(data, tmp_path, monkeypatch):
    bundle = _bundle(tmp_path, data)
    before = {name: (tmp_path / "run" / name).read_bytes() for name in (WEIGHTS_FILE, META_FILE)}
    from pathlib import Path
    real_write = Path.write_text
    monkeypatch.setattr(Path, "write_text", lambda self, *a, **k: (_DiskFull(None)(self) if self.name.endswith(
        ".tmp") else real_write(self, *a, **k)))
    with pytest.raises(BundleError, match="the disk is full. Any model saved there before is unchanged"):
        save_bundle(tmp_path / "run", bundle.net, {**bundle.meta, "classes": ["x", "y", "z"]})
    monkeypatch.undo()
    assert {name: (tmp_path / "run" / name).read_bytes() for name in before} == before
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]  # no leftovers
    assert load_bundle(tmp_path / "run").classes == ["a", "b", "c"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_files_get_the_usual_permissions_not_private_temp_ones(data, tmp_path):
    _bundle(tmp_path, data)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what any program writing a file here gets under the current umask
    expected = plain.stat().st_mode & 0o777
    saved = [tmp_path / "run" / name for name in (WEIGHTS_FILE, META_FILE)]
    assert [p.stat().st_mode & 0o777 for p in saved] == [expected] * 2
    assert expected & 0o044  # readable by others under the usual umask, unlike mkstemp's 0600


def test_saving_a_copy_into_a_read_only_or_full_place_is_a_clear_error(data, tmp_path, monkeypatch):
    _bundle(tmp_path, data)
    target = tmp_path / "copy"
    export_bundle(tmp_path / "run", target)
    before = (target / WEIGHTS_FILE).read_bytes()
    import shutil
    monkeypatch.setattr(shutil, "copyfile", lambda src, dst: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system")))
    with pytest.raises(TransferLabError, match="read-only .* Any model saved there before is unchanged"):
        export_bundle(tmp_path / "run", target)
    assert (target / WEIGHTS_FILE).read_bytes() == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write into read-only folders")
def test_a_really_read_only_folder(data, tmp_path):
    _bundle(tmp_path, data)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(TransferLabError, match="read-only"):
            export_bundle(tmp_path / "run", locked)
    finally:
        locked.chmod(0o755)


def test_mismatched_weights_and_description_are_detected(data, tmp_path):
    _bundle(tmp_path, data)
    meta = json.loads((tmp_path / "run" / META_FILE).read_text())
    meta["weights_sha256"] = "0" * 64
    (tmp_path / "run" / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="does not belong to"):
        load_bundle(tmp_path / "run")


def _cancel_after(token: CancelToken, event: threading.Event, delay: float, stamp: list):
    def run():
        event.wait(60)
        time.sleep(delay)
        stamp.append(time.monotonic())
        token.cancel()
    threading.Thread(target=run, daemon=True).start()


class _Started(TrainCallback):
    def __init__(self, event: threading.Event):
        self.event = event

    def on_prepare(self, e):
        self.event.set()


def test_cancel_while_computing_features_stops_within_two_seconds(tmp_path):
    data = make_class_folder(tmp_path / "big", ["a", "b"], per_class=60, size=160)
    token, started, stamp = CancelToken(), threading.Event(), []
    _cancel_after(token, started, 0.5, stamp)
    with pytest.raises(Cancelled):
        train(scan_dataset(data), TrainSettings(image_size=224, batch_size=32, augmentation="none"), tmp_path / "r",
              _Started(started), token)
    assert time.monotonic() - stamp[0] < 2.0


def test_cancel_while_scanning_stops_within_two_seconds(tmp_path):
    data = make_class_folder(tmp_path / "many", ["a", "b"], per_class=400, size=64, ext=".jpg")
    token, started, stamp = CancelToken(), threading.Event(), []
    _cancel_after(token, started, 0.05, stamp)
    with pytest.raises(Cancelled):
        scan_dataset(data, progress=lambda done, total, message: started.set(), cancel=token)
    assert time.monotonic() - stamp[0] < 2.0


def test_cancel_during_fine_tuning_stops_within_two_seconds(data, tmp_path):
    token, started, stamp = CancelToken(), threading.Event(), []

    class Batches(TrainCallback):
        def on_batch_end(self, e):
            started.set()
    _cancel_after(token, started, 0.0, stamp)
    settings = TrainSettings(image_size=224, batch_size=16, epochs=50, strategy="fine-tune-all", freeze_depth=8)
    with pytest.raises(Cancelled):
        train(scan_dataset(data), replace(settings, augmentation="light"), tmp_path / "r", Batches(), token)
    assert time.monotonic() - stamp[0] < 2.0
