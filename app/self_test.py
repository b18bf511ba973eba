"""``transferlab --self-test``: the sample-data flow, for real, through the window's own objects.

Scan the bundled sample dataset (the Data page's "Try with sample data" button), train one epoch
of feature extraction with the default model and its offline weights (Start training on the Train
page), predict one image (Try page); print a short report and exit 0. Any failure — a page's error
message, an unhandled exception, a step that does not finish, the whole test past ``--timeout`` —
prints ``self-test FAILED: <reason>`` and exits non-zero. Runs, caches and settings go to a temporary
folder that is deleted afterwards: the user's own runs are never touched. Use
``QT_QPA_PLATFORM=offscreen`` to run it without a display.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

OK_LINE = "self-test OK"
FAILED_PREFIX = "self-test FAILED: "
TIMEOUT_EXIT = 3
DATA, TRAIN, TRY = 0, 4, 6
log = logging.getLogger("transferlab.self_test")


class SelfTestFailure(Exception):
    pass


def _private_dirs(root: Path) -> dict[str, str | None]:
    """Runs, caches and remembered settings in ``root``, never the user's own; returns the old variables."""
    from PySide6.QtCore import QSettings

    from core.base.paths import CACHE_ENV, DATA_ENV
    old = {name: os.environ.get(name) for name in (DATA_ENV, CACHE_ENV)}
    os.environ[DATA_ENV] = str(root / "data")
    os.environ[CACHE_ENV] = str(root / "cache")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(root / "settings"))
    return old


def _restore(variables: dict[str, str | None]) -> None:
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _hard_timeout(seconds: float, root: Path) -> threading.Timer:
    """Ends the process if the test hangs, even if the GUI thread is stuck (tracebacks go to stderr); its
    temporary folder ``root`` is removed first, as ``os._exit`` skips the ``finally`` that would."""
    def expire() -> None:
        print(f"{FAILED_PREFIX}did not finish within {seconds:g} s; the threads were:", flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        shutil.rmtree(root, ignore_errors=True)
        os._exit(TIMEOUT_EXIT)
    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer


class _Flow:
    """Drives a MainWindow through scan → train → predict, waiting on its event loop."""

    def __init__(self, app, window) -> None:
        self.app, self.window = app, window
        self.errors: list[str] = []  # error messages shown by pages, unhandled exceptions
        for page in window.pages:
            page.task.failed.connect(lambda msg, title=page.title: self.errors.append(f"{title}: {msg}"))
        self.timings: dict[str, float] = {}

    def wait(self, done: Callable[[], bool], what: str, timeout_s: float) -> None:
        from PySide6.QtCore import QEventLoop
        deadline = time.monotonic() + timeout_s
        while not done():
            if self.errors:
                raise SelfTestFailure(f"{what}: {self.errors[0]}")
            if time.monotonic() > deadline:
                raise SelfTestFailure(f"{what} did not finish within {timeout_s:g} s")
            self.app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
        if self.errors:
            raise SelfTestFailure(f"{what}: {self.errors[0]}")

    def step(self, name: str, run: Callable[[], None]) -> None:
        start = time.perf_counter()
        run()
        self.timings[name] = time.perf_counter() - start

    def scan(self) -> None:
        data = self.window.pages[DATA]
        data.sample_button.click()
        self.wait(lambda: not data.task.is_running() and self.window.state.scan is not None, "scanning", 120)
        if not data.is_complete():
            raise SelfTestFailure(f"the sample dataset cannot be used: {data.banner.text() or 'no images'}")

    def train(self, image_size: int | None) -> None:
        state, page = self.window.state, self.window.pages[TRAIN]
        state.settings = replace(state.settings, strategy="feature-extraction", freeze_depth=0, cut_index=None,
                                 epochs=1, augmentation="none", image_size=image_size)
        self.fit_start = None
        page.task.event.connect(self._on_train_event)
        self.window.reached = TRAIN
        self.window.show_page(TRAIN)
        page.start_button.click()
        self.wait(lambda: not page.task.is_running(), "training", 600)
        if state.result is None:
            last = (page.log.toPlainText().splitlines() or ["no message"])[-1]
            raise SelfTestFailure(f"training ended without a model: {last}")
        if self.fit_start is None or "bundled" not in self.fit_start.weights_source:
            source = self.fit_start.weights_source if self.fit_start else "unknown"
            raise SelfTestFailure(f"the offline weights bundled with TransferLab were not used (weights: {source})")

    def _on_train_event(self, item) -> None:
        if item[0] == "start":
            self.fit_start = item[1]

    def predict(self, image: Path) -> None:
        page = self.window.pages[TRY]
        self.window.reached = TRY
        self.window.show_page(TRY)
        self.predictions: list[dict] = []
        page.task.finished.connect(lambda result: self.predictions.extend(result[2]))
        page.predict_paths([str(image)])
        self.wait(lambda: not page.task.is_running() and page.result_count() > 0, "predicting", 300)
        if page.last_label() not in self.window.state.scan.classes:
            raise SelfTestFailure(f"predicted {page.last_label()!r}, not one of the classes")


def _report(flow: _Flow, image: Path, total_s: float) -> list[str]:
    scan, result, start = flow.window.state.scan, flow.window.state.result, flow.fit_start
    counts, settings = scan.class_counts(), flow.window.state.settings
    prediction = flow.predictions[0] if flow.predictions else {}
    confidence = prediction.get("probabilities", {}).get(prediction.get("label"), float("nan"))
    true_class = image.parent.name
    return [
        f"scan: {sum(counts.values())} images in {len(scan.classes)} classes ({', '.join(scan.classes)}) "
        f"in {flow.timings['scan']:.1f} s",
        f"weights: {start.weights_source}",
        f"train: 1 epoch of feature extraction, {settings.model_name} at "
        f"{f'{settings.image_size} px' if settings.image_size else 'its own input size'} on {start.device}, "
        f"{start.train_images} training / {start.val_images} validation images, validation accuracy "
        f"{result.best_val_accuracy:.1%} in {flow.timings['train']:.1f} s",
        f"predict: {true_class}/{image.name} -> {flow.window.pages[TRY].last_label()} ({confidence:.0%}) "
        f"in {flow.timings['predict']:.1f} s",
        f"total: {total_s:.1f} s",
    ]


def run_self_test(timeout_s: float = 900, image_size: int | None = None) -> int:
    """The self-test; returns the exit code (0 = passed). ``image_size``: smaller images, a quicker test."""
    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="transferlab-self-test-"))
    timer = _hard_timeout(timeout_s, root)
    window, old_env = None, {}
    try:
        from PySide6.QtWidgets import QApplication

        from app import app_settings, crash
        from app.gui import start_logging
        from app.logs import log_file
        from app.resources import sample_data_dir
        start_logging()
        old_env = _private_dirs(root)
        app_settings.init_identity()
        app = QApplication.instance() or QApplication([sys.argv[0]])
        from app.main_window import MainWindow
        window = MainWindow()
        flow = _Flow(app, window)
        crash.install(lambda what: flow.errors.append(f"unhandled exception {what} (traceback in {log_file()})"))
        window.show()
        flow.step("scan", flow.scan)
        flow.step("train", lambda: flow.train(image_size))
        image = sorted(p for p in (sample_data_dir() / window.state.scan.classes[0]).iterdir() if p.is_file())[0]
        flow.step("predict", lambda: flow.predict(image))
        lines = _report(flow, image, time.perf_counter() - began)
    except Exception as exc:  # every failure is a reason on one line, and in the log with its traceback
        log.exception("self-test failed")
        print(FAILED_PREFIX + (str(exc) if isinstance(exc, SelfTestFailure) else f"{type(exc).__name__}: {exc}"),
              flush=True)
        return 1
    finally:
        if window is not None:
            window.confirm_quit_while_busy = lambda: True
            window.close()
        timer.cancel()
        _restore(old_env)
        shutil.rmtree(root, ignore_errors=True)
    for line in lines:
        print(line)
    print(OK_LINE, flush=True)
    log.info("self-test passed: %s", "; ".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transferlab --self-test", description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=900, help="seconds before the test gives up (default 900)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="train and predict on smaller images (quicker; default: the model's own size)")
    args = parser.parse_args(argv)
    return run_self_test(args.timeout, args.image_size)
