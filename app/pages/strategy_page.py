"""Step 3: measure how the images look to the pretrained model and suggest one of four strategies."""

import html
import time
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QFrame, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QRadioButton, QScrollArea, QVBoxLayout, QWidget)

from app import app_settings
from app.glossary import explain
from app.pages.base import WizardPage
from app.tasks import Task
from app.widgets.auto_box import AutoBox
from app.widgets.probe_chart import ProbeChart
from app.widgets.quadrant import QuadrantWidget
from core.methods.plan_words import StageEta, about
from core.training.settings import STRATEGIES, STRATEGY_TITLES

MEASURING_TEXT = ("Measuring how your images look to the pretrained model: it runs on a sample of your training "
                  "images, compares what it sees inside with the ImageNet photos it learnt from, and times this "
                  "computer so Auto can say how long each budget takes. The features it computes are kept, so "
                  "training starts quicker. You can go Back meanwhile (measuring then stops).")
# the words of the rationale (core.methods.advisor) a domain expert may look up, explained on hover
RATIONALE_WORDS = ("Similarity to ImageNet (statistics shift)", "Quick check (nearest class)",
                   "Majority-class baseline", "Simple classifier (linear)", "Fit in one go (to convergence)",
                   "Test every layer (layer-wise probe)", "Layer (feature level)")
TIMING_TEXT = "Timing a few training steps on 8 of your images, so Auto can predict how long each budget takes…"
ESTIMATING = "estimating the time left…"
PACE_KEY = "measuring/pace"  # seconds per image of each measuring stage, by model, image size and device


def _probe(scan, settings, ctx):
    from core.methods.advisor import probe_for
    return probe_for(scan, settings, ctx.progress, ctx.cancel)


class StrategyPage(WizardPage):
    title = "Strategy"
    subtitle = ("How much of the pretrained network to reuse depends on two things: how many images you have, "
                "and how similar they are to the photos the model was trained on (ImageNet). Both are measured "
                "on your data, and a strategy is suggested; you can choose a different one.")

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self._pending_key: tuple | None = None
        self._hand: str | None = None  # a strategy chosen by hand over the suggestion, kept through measuring again
        self._keep = False  # measuring with a current run shown: its settings are kept
        self.clock = time.monotonic  # a seam for tests (a simulated clock)
        self.eta = StageEta(lambda: self.clock())  # the measuring's time left; the layer test's (on demand) below
        self.probe_eta = StageEta(lambda: self.clock())

        # while measuring
        self.measuring = QWidget()
        col = QVBoxLayout(self.measuring)
        col.setContentsMargins(0, 0, 0, 0)
        self.measure_label = QLabel(MEASURING_TEXT)
        self.measure_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop measuring")
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        col.addWidget(self.measure_label)
        col.addLayout(row)
        self.measuring.hide()
        self.body.addWidget(self.measuring)

        # a line shown when there is no suggestion (no dataset, cancelled, failed)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.hide()
        self.body.addWidget(self.status_label)

        # the result
        self.results = QWidget()
        res = QVBoxLayout(self.results)
        res.setContentsMargins(0, 0, 0, 0)
        res.setSpacing(10)
        self.auto_box = AutoBox(state)  # first: what will happen on Train
        res.addWidget(self.auto_box)
        top = QHBoxLayout()
        top.setSpacing(16)
        self.quadrant = QuadrantWidget()
        top.addWidget(self.quadrant, 1)
        side = QVBoxLayout()
        side.setSpacing(6)
        self.suggested_label = QLabel()
        self.suggested_label.setWordWrap(True)
        self.suggested_label.setTextFormat(Qt.TextFormat.RichText)
        self.rationale_label = QLabel()
        self.rationale_label.setWordWrap(True)
        self.rationale_label.setTextFormat(Qt.TextFormat.RichText)
        self.rationale_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rationale_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.rationale_label.setToolTip(explain(*RATIONALE_WORDS))
        side.addWidget(self.suggested_label)
        side.addWidget(self.rationale_label)
        side.addStretch(1)
        top.addLayout(side, 1)
        res.addLayout(top, 1)
        self.probe_chart = ProbeChart()
        self.probe_chart.hide()
        res.addWidget(self.probe_chart)
        self.probe_notes = QLabel()  # why the bars and the quick check differ, why the cut is where it is
        self.probe_notes.setWordWrap(True)
        self.probe_notes.setObjectName("hint")
        self.probe_notes.setToolTip(explain("Quick check (nearest class)", "Simple classifier (linear)",
                                            "Cross-validation", "95% interval"))
        self.probe_notes.hide()
        res.addWidget(self.probe_notes)

        self.override_box = QGroupBox("Use a different strategy")
        radios = QVBoxLayout(self.override_box)
        radios.setSpacing(4)
        self.strategy_group = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        for i, name in enumerate(STRATEGIES):
            radio = QRadioButton(STRATEGY_TITLES[name])
            self.radios[name] = radio
            self.strategy_group.addButton(radio, i)
            radios.addWidget(radio)
        bottom = QHBoxLayout()
        bottom.addWidget(self.override_box, 1)
        res.addLayout(bottom)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # frameless, it showed no focus when Tab stopped on it
        scroll.setWidget(self.results)
        self.scroll = scroll
        scroll.hide()
        self.body.addWidget(scroll, 1)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.probe_task = Task(self)
        self.probe_progress = QProgressBar()
        self.probe_progress.setTextVisible(True)
        self.probe_progress.hide()
        self.probe_button = QPushButton("Test every layer")
        self.probe_button.setToolTip(explain("Test every layer (layer-wise probe)") + "<p>Used by the earlier-layer "
                                     "strategy.</p>")
        self.probe_button.clicked.connect(self.probe)
        buttons.addWidget(self.probe_progress, 1)
        buttons.addWidget(self.probe_button)
        self.measure_button = QPushButton("Measure again")
        self.measure_button.setToolTip("Run the measurement on your images again")
        buttons.addWidget(self.measure_button)
        self.body.addLayout(buttons)
        self.body.addStretch(0)

        self.cancel_button.clicked.connect(self._cancel)
        self.measure_button.clicked.connect(self.measure)
        self.strategy_group.idToggled.connect(self._strategy_toggled)
        self.strategy_group.idToggled.connect(lambda *_: self._tab_stop_on_checked())
        self.task.progress.connect(self._on_progress)
        self.task.finished.connect(self._on_finished)
        self.task.failed.connect(lambda _msg: self._show_status("Measuring failed (see the message above). "
                                                                "Press “Measure again” to retry."))
        self.task.cancelled.connect(lambda: self._show_status("Measuring was cancelled. Press “Measure again” "
                                                              "to measure your images."))
        self.task.stopped.connect(self._on_stopped)
        self.auto_box.changed.connect(self._update_controls)
        self.auto_box.changed.connect(self.completeChanged)
        self.probe_task.progress.connect(lambda done, total, m: self._count(self.probe_progress, self.probe_eta,
                                                                              done, total, m))
        self.probe_task.finished.connect(self._on_probed)
        self.probe_task.failed.connect(lambda msg: self.banner.show_message(msg, "error"))
        self.probe_task.stopped.connect(self._update_controls)
        self.probe_task.stopped.connect(lambda: app_settings.set_value(self._pace_key(), self.probe_eta.paces()))
        self._update_controls()

    # hooks ------------------------------------------------------------------------------------
    def on_enter(self) -> None:
        if self.task.is_running():
            return
        if self.state.scan is None:
            self.state.suggestion = None
            self.scroll.hide()
            self._show_status("Choose a dataset first (step 1), then come back to this step.")
            self._update_controls()
            return
        if self.state.suggestion is None or self.state.suggestion_key != self.state.advice_key():
            self._hand = self._hand_choice()
            self.state.suggestion = None  # made for another dataset or model: no longer valid, nor shown while the
            self.scroll.hide()  # new one is measured (a walkthrough saw the last folder's numbers for a minute)
            self.measure()
        else:
            self._show_suggestion(self.state.suggestion)

    def is_complete(self) -> bool:
        return self.state.suggestion is not None and not self.task.is_running()

    def holds_navigation(self) -> bool:
        return False  # leaving stops measuring (on_leave); coming back measures again

    def on_leave(self) -> None:
        if self.task.is_running():
            self._cancel()
        self.probe_task.cancel()

    # measuring --------------------------------------------------------------------------------
    def measure(self) -> None:
        if self.task.is_running():
            return
        if self.state.scan is None:
            self._show_status("Choose a dataset first (step 1), then come back to this step.")
            return
        self.banner.hide()
        self.status_label.hide()
        self._hand = self._hand_choice() if self.state.suggestion is not None else self._hand
        # the run shown (trained or opened) still matches: measuring must not change its settings and so put it aside
        self._keep = self.state.result is not None and not self.state.result_is_stale()
        scan, settings = self.state.scan, replace(self.state.settings)
        self._pending_key = self.state.advice_key()
        self.eta.expect(app_settings.get_str(self._pace_key(), "{}"))  # each stage's pace when this model last measured
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"Starting · {ESTIMATING}")
        self.measuring.show()
        def work(ctx):
            from core.methods.advisor import advise
            from core.methods.auto_search import time_for_plans
            suggestion = advise(scan, settings, ctx.progress, ctx.cancel)
            ctx.progress(0, 1, TIMING_TEXT)
            time_for_plans(scan, settings, suggestion)
            return suggestion

        self.task.start(work)
        self._update_controls()
        self.completeChanged.emit()

    def shutdown(self) -> None:
        self.probe_task.cancel()
        self.probe_task.wait(15000)
        super().shutdown()

    def probe(self) -> None:
        """The layer-wise probe on demand (the advisor runs it itself for the small + different quadrant)."""
        suggestion = self.state.suggestion
        if suggestion is None or self.task.is_running() or self.probe_task.is_running():
            return
        scan, settings = self.state.scan, replace(self.state.settings)
        self.banner.hide()
        self.probe_eta.expect(app_settings.get_str(self._pace_key(), "{}"))
        self.probe_progress.setRange(0, 0)
        self.probe_progress.setFormat(ESTIMATING)
        self.probe_task.start(lambda ctx: (suggestion, _probe(scan, settings, ctx)))
        self._update_controls()

    def _on_probed(self, result) -> None:
        from core.methods.advisor import use_probe
        suggestion, probe = result
        if suggestion is not self.state.suggestion:
            return  # measured again meanwhile
        use_probe(suggestion, probe)
        if self.state.settings.strategy == "truncated" and probe.best_index is not None:
            self.state.settings = replace(self.state.settings, cut_index=probe.best_index)
        self._show_suggestion(suggestion)

    def _cancel(self) -> None:
        self.task.cancel()
        self.cancel_button.setEnabled(False)
        self.progress.setFormat("Cancelling…")

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self._count(self.progress, self.eta, done, total, message)
        if message:  # a stage with its own words (loading weights, probing the layers)
            self.measure_label.setText(f"{html.escape(message)}<br>{html.escape(MEASURING_TEXT)}")
        else:  # the routine measuring step says nothing new
            self.measure_label.setText(MEASURING_TEXT)

    def _count(self, bar: QProgressBar, eta: StageEta, done: int, total: int, message: str) -> None:
        """A measuring stage's bar: images done, time left (core.methods.plan_words.StageEta) or "estimating"."""
        running = self.task.is_running() or self.probe_task.is_running()
        if total > 1:
            bar.setRange(0, total)
            bar.setValue(done)
            left = eta.seconds_left(done, total, message)
            words = f" · {about(left)} left" if left is not None else f" · {ESTIMATING}" if running else ""
            bar.setFormat(f"{done} of {total} images{words}")
        else:
            bar.setRange(0, 0)
            bar.setFormat("timing…" if message == TIMING_TEXT else ESTIMATING if running else "")  # not "seconds"

    def _pace_key(self) -> str:  # the paces of a model's measuring stages on this computer, kept between sessions
        s = self.state.settings
        return f"{PACE_KEY}/{s.model_name}|{s.image_size}|{s.device}"

    def _on_finished(self, suggestion) -> None:
        self.state.suggestion = suggestion
        self.state.suggestion_key = self._pending_key
        hand, self._hand = self._hand, None
        if self._keep:  # a walkthrough saw an opened run put aside by merely visiting this step
            self.banner.show_message("Measured. The settings of the run shown are kept, so its results stay; the "
                                     f"suggestion is “{STRATEGY_TITLES[suggestion.strategy]}”.", "info")
            self._show_suggestion(suggestion)
            return
        self.state.settings = suggestion.apply(self.state.settings)
        if hand is not None and hand != suggestion.strategy:  # a walkthrough saw its choice silently replaced
            self.state.settings = suggestion.settings_for(hand, self.state.settings)
            self.banner.show_message(f"Measured again. Your choice, “{STRATEGY_TITLES[hand]}”, is kept; the suggestion "
                                     f"is “{STRATEGY_TITLES[suggestion.strategy]}”.", "info")
        self._show_suggestion(suggestion)

    def _hand_choice(self) -> str | None:
        """The strategy chosen by hand (Auto off) over the current suggestion, or None."""
        s, chosen = self.state.suggestion, self.state.settings.strategy
        hand = self.state.auto_budget is None and s is not None and chosen != s.strategy and chosen in self.radios
        return chosen if hand else None

    def _on_stopped(self) -> None:
        app_settings.set_value(self._pace_key(), self.eta.paces())  # the next measuring's prediction
        self.measuring.hide()
        self.measure_label.setText(MEASURING_TEXT)
        self._update_controls()
        self.completeChanged.emit()

    # showing ----------------------------------------------------------------------------------
    def _show_status(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.show()

    def _show_suggestion(self, s) -> None:
        m = s.measurements
        self.status_label.hide()
        chosen = self.state.settings.strategy if self.state.settings.strategy in STRATEGY_TITLES else s.strategy
        self.quadrant.set_point(m.median_per_class, m.similarity, chosen, m.imagenet_confidence, m.imagenet_shift)
        items = "".join(f"<li style='margin-bottom:4px'>{html.escape(sentence)}</li>" for sentence in s.rationale)
        self.rationale_label.setText(f"<ul style='margin-left:0px; -qt-list-indent:1'>{items}</ul>")
        for name, radio in self.radios.items():
            radio.setText(STRATEGY_TITLES[name] + ("  (suggested)" if name == s.strategy else ""))
        current = self.state.settings.strategy if self.state.settings.strategy in self.radios else s.strategy
        self.strategy_group.blockSignals(True)
        self.radios[current].setChecked(True)
        self.strategy_group.blockSignals(False)
        self._tab_stop_on_checked()
        self._show_probe(s)
        self.auto_box.show_suggestion(s)
        self.scroll.show()
        self._update_controls()
        self.completeChanged.emit()

    def _strategy_toggled(self, index: int, checked: bool) -> None:
        s = self.state.suggestion
        if not checked or s is None:
            return
        strategy = STRATEGIES[index]
        self.state.settings = s.settings_for(strategy, self.state.settings)
        self.quadrant.set_chosen(strategy)
        self._show_probe(s)
        self.completeChanged.emit()

    def _show_probe(self, s) -> None:
        """The layer test's chart (the cut highlighted where the network is cut) and why it differs (chart_notes)."""
        probe = s.extra.get("probe")
        self.probe_chart.setVisible(bool(probe))
        self.probe_notes.setVisible(bool(probe))
        if not probe:
            return
        from core.methods.probe import chart_notes
        settings = self.state.settings
        cut = settings.cut_index if settings.strategy == "truncated" else None
        self.probe_chart.set_probe(probe, cut)
        self.probe_notes.setText(" ".join(chart_notes(probe, s.measurements, settings.strategy, cut)))

    def _tab_stop_on_checked(self) -> None:
        """Tab enters the choice at the chosen strategy, as in any radio group; the arrow keys move within it
        (Tab landed on the first, unchecked one)."""
        for radio in self.radios.values():
            radio.setFocusPolicy(Qt.FocusPolicy.StrongFocus if radio.isChecked() else Qt.FocusPolicy.ClickFocus)

    def selected_strategy(self) -> str | None:
        index = self.strategy_group.checkedId()
        return STRATEGIES[index] if index >= 0 else None

    def _update_controls(self) -> None:
        running = self.task.is_running()
        self.cancel_button.setEnabled(running)
        self.measure_button.setEnabled(not running and self.state.scan is not None)
        probing = self.probe_task.is_running()
        self.probe_progress.setVisible(probing)
        self.probe_button.setEnabled(not running and not probing and self.state.suggestion is not None)
        self.override_box.setEnabled(not running and self.state.suggestion is not None and
                                     self.state.auto_budget is None)
        self.override_box.setTitle("Use a different strategy" if self.state.auto_budget is None else
                                   "Use a different strategy (untick Auto first)")
        auto = self.state.auto_budget is not None
        self.quadrant.set_auto(auto)  # highlighted: the suggestion; with Auto on, Auto's plan decides what trains
        s = self.state.suggestion
        if s is not None:  # as the tooltip says: with Auto on the suggestion, else the strategy ticked below
            self.quadrant.set_chosen(s.strategy if auto else self.selected_strategy() or s.strategy)
            auto_words = " (with Auto on, the plan above decides what is trained)" if auto else ""
            self.suggested_label.setText(f"Suggested strategy{auto_words}:<br>"
                                         f"<b>{html.escape(STRATEGY_TITLES[s.strategy])}</b>")
