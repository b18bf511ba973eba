"""Step 5: train in the background with live curves, a progress bar with ETA, and a log."""

import gc
import html
import time
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton

from app import app_settings
from app.pages.base import WizardPage
from app.pages.train_bar import duration, plain_share, resumed_share, set_bar, show_stopped
from app.train_job import adaptation_job, auto_job, resume_job, training_job
from app.widgets.curves import TrainingCurves
from core.base.paths import new_run_dir
from core.training.eta import RunEta
from core.training.settings import STRATEGY_TITLES
from core.training.settings_words import precision_words

DEVICE_NAMES = {"auto": "Auto (best available)", "cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (MPS)"}


class TrainPage(WizardPage):
    title = "Train"
    subtitle = "Training runs in the background; you can cancel at any time. The best epoch is kept."

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.plan = QLabel(wordWrap=True, alignment=Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.plan.setMinimumHeight(3 * self.plan.fontMetrics().lineSpacing())  # Start and Cancel stay put as it
        self.body.addWidget(self.plan)  # grows from one line to three (a walkthrough saw Start move under the mouse)
        self.device_combo = QComboBox()
        self.device_combo.addItem(DEVICE_NAMES["auto"], "auto")
        self._devices_listed = False  # the rest once torch is loaded (it is not, at startup)
        self.start_button = QPushButton("Start training")
        self.cancel_button = QPushButton("Cancel", enabled=False)
        row = QHBoxLayout()
        row.addWidget(QLabel("Device:"))
        row.addWidget(self.device_combo)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the cancelled run from its last finished epoch to its planned end")
        self.resume_button.hide()
        row.addWidget(self.resume_button)  # left of the stretch: Start and Cancel do not move when it appears
        row.addStretch(1)
        self.cluster_button = QPushButton("Run on a server…")
        self.cluster_button.setToolTip("Save this run's configuration and get the command to train it on a GPU "
                                       "server or cluster")
        self.cluster_button.clicked.connect(self.open_cluster)
        row.addWidget(self.cluster_button)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        self.body.addLayout(row)
        self.progress = QProgressBar()
        set_bar(self.progress, 0, "Not started")
        self.body.addWidget(self.progress)
        self.layout().removeWidget(self.banner)  # below Start and Cancel, so that they stay where the mouse is
        self.body.addWidget(self.banner)
        self.curves = TrainingCurves()
        self.body.addWidget(self.curves, 3)
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("Messages from training appear here.")
        self.log.setMinimumHeight(6 * self.log.fontMetrics().lineSpacing())  # a walkthrough saw it 2 lines tall
        self.body.addWidget(self.log, 1)

        self.start_button.clicked.connect(self.start_training)
        self.resume_button.clicked.connect(self.resume_cancelled)
        self.cancel_button.clicked.connect(self.cancel_training)
        self.task.event.connect(self._on_event)
        self.task.finished.connect(self._on_finished)
        self.task.failed.connect(self._on_failed)
        self.task.cancelled.connect(self._on_cancelled)
        self.task.stopped.connect(self._on_stopped)
        self.cancel_requested_at: float | None = None
        self._auto_plan, self._candidate, self._later_s, self._index, self._overall = None, "", 0.0, 0, 0
        self._prep = self._floor = 0.0  # (a run by hand) the bar's share preparing filled; a resumed run's start
        self.run_dir = None  # the run being trained (a plain run: Quit pauses it for resuming)
        self.shown = None  # the run whose curves and bar are drawn here
        self._prepare_stage: str | None = None
        self.eta: RunEta | None = None  # the running fit's progress and time left (core.training.eta)
        self.clock = time.monotonic  # a seam for tests (a simulated clock)

    def list_devices(self) -> None:
        """Offer the devices this computer has (imports torch, if nothing has yet)."""
        if self._devices_listed:
            return
        from core.models.devices import available_devices
        self._devices_listed = True
        for name in available_devices():
            self.device_combo.addItem(DEVICE_NAMES[name], name)
        index = self.device_combo.findData(app_settings.get_str("train/device", "auto"))
        self.device_combo.setCurrentIndex(max(0, index))

    def on_enter(self) -> None:
        if self.state.result is None and self.shown is not None and not self.task.is_running():
            self.set_aside(self.shown)  # an opened or stopped run drawn here, the data changed since (a walkthrough)
        self.list_devices()
        s = self.state.settings
        if self.state.auto_budget is not None and self.state.suggestion is not None and self.state.adaptation is None:
            from core.methods.auto_search import plan_for
            from core.methods.plan_words import describe_plan, short_plan
            try:
                auto_plan = plan_for(self.state.suggestion, s, self.state.auto_budget)
                line, words = short_plan(auto_plan), describe_plan(auto_plan)
            except Exception as exc:  # noqa: BLE001 - e.g. a budget too small: said here, and again on Start
                line = words = str(exc)
            # one line, the whole plan on hover: seven lines of it here pushed the curves' axes off-screen
            self.plan.setText(f"<b>{s.model_name}</b> · Auto, {self.state.auto_budget} budget: {html.escape(line)}. "
                              "<i>(The Strategy step lists them; hover for the plan.)</i>")
            self.plan.setToolTip(f"<p>{html.escape(words)}</p>")
            self.start_button.setEnabled(self.state.scan is not None and not self.task.is_running())
            return
        length = ("the new classifier fitted in one go" if s.classifier_fit == "converged" else
                  f"{s.epochs} epoch{'s' if s.epochs != 1 else ''}")
        self.plan.setToolTip("")
        self.plan.setText(f"<b>{s.model_name}</b> · {STRATEGY_TITLES.get(s.strategy, s.strategy)} · "
                          f"{s.freeze_depth} layer group(s) trained · {length} · augmentation: {s.augmentation}")
        self.start_button.setEnabled(self.state.scan is not None and not self.task.is_running())

    def focus_target(self):
        return self.start_button if self.start_button.isEnabled() and self.state.result is None else None

    def is_complete(self) -> bool:
        return self.state.result is not None and not self.task.is_running()

    def open_cluster(self):
        from app.cluster_dialog import ClusterDialog
        dialog = ClusterDialog(self.state, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def start_training(self) -> None:
        if self.task.is_running() or self.state.scan is None:
            return
        device = self.device_combo.currentData()
        app_settings.set_value("train/device", device)
        settings = replace(self.state.settings, device=device)
        run_dir = new_run_dir(settings.model_name)
        adaptation = self.state.adaptation
        if self.state.auto_budget is not None and adaptation is None and self.state.suggestion is not None:
            from core.methods.auto_search import plan_for
            from core.methods.plan_words import describe_plan
            auto_plan = plan_for(self.state.suggestion, settings, self.state.auto_budget)
            self._begin(f"Starting Auto ({self.state.auto_budget} budget) with {settings.model_name} → {run_dir}")
            self._auto_plan = auto_plan
            self._log(describe_plan(auto_plan))
            self.task.start(auto_job(self.state.scan, auto_plan, run_dir))
            self.completeChanged.emit()
            return
        self._begin(f"Starting: {settings.model_name}, {STRATEGY_TITLES.get(settings.strategy, settings.strategy)}, "
                    f"{settings.epochs} epoch{'s' * (settings.epochs != 1)} → {run_dir}")
        self.run_dir = run_dir  # checkpointed every epoch (domain-adapted runs too): Quit pauses it for resuming
        if adaptation is not None:
            self._log(f"Domain adaptation: {adaptation.describe()}")
            self.task.start(adaptation_job(self.state.scan, settings, run_dir, adaptation))
        else:
            self.task.start(training_job(self.state.scan, settings, run_dir))
        self.completeChanged.emit()

    def resume_training(self, run_dir, history: list[dict]) -> None:
        """Continue an interrupted run; the epochs it already finished are drawn first."""
        if self.task.is_running():
            return
        self._begin(f"Resuming the run in {run_dir} after epoch {len(history)}")
        self.run_dir, self._floor = run_dir, resumed_share(len(history), self.state.settings)
        set_bar(self.progress, self._floor, "Preparing…")  # where it stood, not at 0 (a walkthrough: 87% → 10%)
        for e in history:
            self.curves.add_epoch(e["epoch"], e["train_loss"], e["val_loss"], e["train_accuracy"], e["val_accuracy"])
        self.task.start(resume_job(run_dir))
        self.completeChanged.emit()

    def show_run(self, result, stopped: dict | None = None) -> None:
        """Draw a saved run's curves (an opened run folder, or a comparison's candidate); ``stopped``: its model's
        "stopped", for a run that ended before its planned last epoch."""
        if self.task.is_running():
            return
        self.curves.reset()
        for e in result.history:
            self.curves.add_epoch(e["epoch"], e["train_loss"], e["val_loss"], e["train_accuracy"], e["val_accuracy"])
        if stopped:  # 4 of 12 epochs: not a full bar (a walkthrough saw "Opened" on a full bar for such a run)
            show_stopped(self.progress, stopped, result, opened=True)
        else:
            set_bar(self.progress, 1, f"Opened · best validation accuracy {result.best_val_accuracy:.1%} "
                                    f"(epoch {result.best_epoch})")
        self._log(f"Opened the run in {result.run_dir}.")
        self.shown = result.run_dir
        self.resume_button.setVisible(bool(getattr(result, "cancelled", False)))

    def set_aside(self, run_dir) -> None:
        """The settings changed after ``run_dir`` was trained: clear its curves and say where it is."""
        self.curves.reset()
        self.resume_button.hide()
        set_bar(self.progress, 0, "Not started")
        self.shown = None
        self.banner.show_message(f"The data or settings changed since the last run, so its results are put aside "
                                 f"(it is kept in {run_dir}; open it again with Open a run…). Press Start training "
                                 f"to train with the current settings.", "info")
        self._log(f"Settings changed: the run in {run_dir} is put aside.")
        self.completeChanged.emit()

    def resume_cancelled(self) -> None:
        """Continue the run Cancel stopped, from its last finished epoch."""
        result = self.state.result
        if result is not None and getattr(result, "cancelled", False):
            self.resume_training(result.run_dir, result.history)

    def shutdown(self) -> None:
        """Window closing: Cancel (the best epoch so far is saved), then mark a plain run as paused, so
        the next start offers to continue it as after a crash."""
        running = self.task.is_running()
        super().shutdown()
        if running and self.run_dir is not None:
            from core.training import runs
            runs.pause(self.run_dir)

    def _begin(self, message: str) -> None:
        self.run_dir, self.eta, self._auto_plan, self._overall = None, None, None, 0
        self._prep = self._floor = 0.0
        self.resume_button.hide()
        self.state.result = None
        self.state.evaluation = None
        self.state.result_key = self.state.training_key()  # what this run is trained for (stale check)
        self.curves.reset()
        self.banner.hide()
        set_bar(self.progress, 0, "Preparing…")  # not a busy bar: it shows no words (a walkthrough saw 3 s of it)
        if self.log.blockCount() > 1 or self.log.toPlainText():  # an earlier run's lines stay above, set off
            self.log.appendPlainText("─" * 40)
        self._log(message)
        self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())  # the new run, in view
        had_focus = self.window().focusWidget() in (self.start_button, self.resume_button)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        if had_focus:  # the pressed button is disabled or hidden now: the keyboard goes to Cancel, not to the next
            self.cancel_button.setFocus()  # button in line ("Run on a server…", a walkthrough found after Resume)
        self.device_combo.setEnabled(False)
        self.cancel_requested_at = None
        self._prepare_stage = None
        self._candidate, self._later_s = "", 0.0  # Auto: which try is running, the planned time of those after
        self.finished_candidates = 0  # Auto: candidates trained to the end (Quit keeps the best of them)
        # A full pass of Python's garbage collector over everything torch, timm and Qt have loaded
        # takes ~250 ms on a slow CPU and would freeze the window mid-training. What is alive now
        # lives as long as the app, so the collector can skip it from here on.
        gc.freeze()

    def cancel_training(self) -> None:
        if self.task.is_running():
            self.cancel_requested_at = time.monotonic()
            self.cancel_button.setEnabled(False)
            self.progress.setFormat("Cancelling…")
            self.task.cancel()

    # events from the worker (GUI thread) -------------------------------------------------------
    def _on_event(self, item) -> None:
        kind = item[0]
        if kind == "status":
            self._log(item[1])
        elif kind == "candidate":  # Auto starts its next candidate: fresh curves
            _, index, total, label = item
            self.curves.reset()
            self.eta = None
            later = self._auto_plan.candidates[index + 1:] if self._auto_plan is not None else []
            self._candidate, self._later_s = f"Try {index + 1} of {total}", sum(c.predicted_s for c in later)
            self._index = index
            self._bar(0, 1, prepare=True)  # the whole plan's share done so far
            self._log(f"Candidate {index + 1} of {total}: {label}")
        elif kind == "row":
            row = item[1]
            if "val_accuracy" in row:
                self.finished_candidates += 1
                self._log(f"{row['title']}: validation accuracy {row['val_accuracy']:.1%} in {row['seconds']:.0f} s" + (
                    f" (stopped early after epoch {row['epochs']}: no longer improving)" * row.get("stopped_early", 0)))
                if row["val_accuracy"] == 1.0 and self._later_s:  # run_auto skips the rest: nothing could win
                    self._later_s = 0.0
                    self._log("A perfect score on the validation images: no candidate left could score higher, so "
                              "they are skipped (which one is kept is said at the end).")
        elif kind == "prepare":
            e = item[1]
            if self.eta is not None:
                self.eta.prepared()  # decoding between two stages is not the next epoch's pace
            if e.stage != self._prepare_stage:
                self._prepare_stage = e.stage
                self._log(e.words() + "…")
            self._bar(e.done, e.total, prepare=True)  # no total: a busy bar (finishing after the last epoch)
            self._set_format(f"{e.stage}: {e.done} / {e.total}" if e.total else e.stage + "…")  # (%v: the plan's)
        elif kind == "start":
            e = item[1]
            self.eta = RunEta(e.epochs, self.clock, e.first_epoch, e.head_epochs)  # resumed: after its checkpoint
            self._bar(self.eta.value(), self.eta.maximum())
            self._set_format(f"Epoch {self.eta.epoch} of {e.epochs}")  # not the last preparing step's words
            self._log(f"Training on {e.device}: {e.train_images} training and {e.val_images} validation images; "
                      f"{e.trainable_params:,} of {e.total_params:,} parameters trainable. Weights: "
                      f"{e.weights_source}.")
            self._log(f"Speed: {e.engine}; {precision_words(e.precision)}.")
        elif kind == "batch" and self.eta is not None:
            e, smoothed = item[1], item[2]
            self.eta.batch(e.epoch, e.batch, e.batches)
            self._bar(self.eta.value(), self.eta.maximum())  # a preparing step in between had a range of its own
            self._set_format(f"Epoch {e.epoch} of {self.eta.epochs} · batch {e.batch}/{e.batches} · "
                             f"{e.images_per_s:.0f} images/s{self._eta_text()}")
            self.curves.add_batch(e.epoch - 1 + e.batch / e.batches, smoothed)
        elif kind == "epoch":
            e = item[1]
            if self.eta is not None:
                self.eta.epoch_end(e.epoch, e.seconds)
                self._bar(self.eta.value(), self.eta.maximum())
                self._set_format(f"Epoch {e.epoch} of {self.eta.epochs} done{self._eta_text()}")
            self.curves.add_epoch(e.epoch, e.train_loss, e.val_loss, e.train_accuracy, e.val_accuracy)
            self._log(f"Epoch {e.epoch}/{e.epochs}: train loss {e.train_loss:.3f}, accuracy "
                      f"{e.train_accuracy:.1%}; validation loss {e.val_loss:.3f}, accuracy {e.val_accuracy:.1%}"
                      f"{'  ← best so far' if e.is_best else ''}")

    def _bar(self, value: int, maximum: int, prepare: bool = False) -> None:
        """value / maximum of the run (train_bar.plain_share) or, in Auto, of the whole plan by predicted times (a
        candidate's preparing steps its first half, its epochs the second), never going back."""
        plan = self._auto_plan if self._candidate else None
        if plan is None:
            if maximum <= 0:  # no count (finishing after the last epoch): the bar stays, its words say what runs
                return  # (a busy bar shows no words: a walkthrough saw 18 s of stripes after "about 0:00 left")
            share, self._prep = plain_share(self._prep, value, maximum, prepare, self.eta)
            self.progress.setRange(0, 1000)
            return self.progress.setValue(int(1000 * max(share, self._floor)))
        times, f = [c.predicted_s for c in plan.candidates], min(1.0, value / maximum) if maximum > 0 else 0.0
        done = sum(times[:self._index]) + times[self._index] * (0.5 * f + (0.0 if prepare else 0.5))
        self._overall = max(self._overall, int(1000 * done / max(sum(times), 1e-9)))
        self.progress.setRange(0, 1000)
        self.progress.setValue(self._overall)

    def _set_format(self, text: str) -> None:
        """The bar's words (with Auto: which try), unless Cancel was pressed: then it says so until it stops."""
        text = f"{self._candidate} · {text}" if self._candidate else text
        self.progress.setFormat("Cancelling…" if self.cancel_requested_at is not None else text)

    def _eta_text(self) -> str:
        left = self.eta.seconds_left() if self.eta is not None else None
        if left is not None and self._candidate:
            return f" · about {duration(left + self._later_s)} left in all (planned)"  # Auto's later tries too
        first_stage = self.eta is not None and self.eta.epoch <= self.eta.head_epochs  # quick: times nothing after
        return (" · time left known once fine-tuning starts" if first_stage else "") if left is None else \
            f" · about {duration(left)} left"

    def _on_finished(self, result) -> None:
        self.state.result = result
        self.shown = result.run_dir
        set_bar(self.progress, 1, f"Done · best validation accuracy {result.best_val_accuracy:.1%} "
                                f"(epoch {result.best_epoch})")
        self._log(("Stopped by Cancel" if getattr(result, "cancelled", False) else "Finished") +
                  f". Best epoch {result.best_epoch}: validation accuracy {result.best_val_accuracy:.1%}.")
        domain = getattr(result, "domain_accuracy", None)
        if domain:  # a domain-adapted run: how well the two settings can still be told apart
            self._log(f"Domain adaptation: the domain classifier told the two settings apart {domain[0]:.0%} of the "
                      f"time in the first epoch and {domain[-1]:.0%} in the last (50% = indistinguishable).")
        target = getattr(result, "target_test_accuracy", None)
        if target is not None:
            self._log(f"Accuracy on the labelled images of the new setting: {target:.1%}.")
        rows = getattr(result, "rows", None)
        if rows:  # Auto: which candidate it kept, and its curves (not the last candidate's)
            kept = next(r for r in rows if r.get("winner"))
            self.curves.reset()
            for e in result.history:
                self.curves.add_epoch(e["epoch"], e["train_loss"], e["val_loss"], e["train_accuracy"],
                                      e["val_accuracy"])
            from core.methods.plan_words import passed_over
            for r in rows:
                if passed_over(r, kept):
                    self._log(f"{r['title']} scored {r['val_accuracy']:.1%}{passed_over(r, kept)}.")
            self._log(f"Auto kept: {kept['title']} (validation accuracy {kept['val_accuracy']:.1%})"
                      + (" — stopped by Cancel; the best candidate finished so far is kept." if result.cancelled
                         else ""))
        if getattr(result, "cancelled", False) and not rows:
            done, planned = len(result.history), self.state.settings.epochs
            show_stopped(self.progress, {"after_epoch": done, "of": planned}, result)  # how far it got
            self._log(f"Cancelled after epoch {done}: the best epoch so far ({result.best_epoch}) is saved as the "
                      "model.")
            self.banner.show_message(f"Training was cancelled after epoch {done} of {planned}. The best epoch so far "
                                     f"is saved as the model: press Next to see its results, or Resume to continue "
                                     f"to epoch {planned}.", "info")
            self.resume_button.show()
            return
        self.banner.show_message("Training finished. Press Next to see the results.", "ok")

    def _on_cancelled(self) -> None:
        took = time.monotonic() - self.cancel_requested_at if self.cancel_requested_at else 0.0
        self._log(f"Training cancelled (stopped {took:.1f} s after Cancel) before its first epoch ended: there is "
                  "no model to keep yet.")
        set_bar(self.progress, 0, "Cancelled")

    def _on_stopped(self) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.device_combo.setEnabled(True)
        self.completeChanged.emit()

    def _on_failed(self, message: str) -> None:
        self._log(f"Failed: {message}")
        set_bar(self.progress, 0, "Stopped")  # not the words of the step it failed in (the bar is never busy now)

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")
