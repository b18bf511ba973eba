"""The Strategy page's "Auto" box: on/off, the time budget, the plan with its predicted finish time,
and, after a run, every candidate tried with its score, time and the winner (core.methods.auto_search)."""

import html

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QVBoxLayout

from core.base.errors import TransferLabError
from core.methods.auto_search import BUDGET_WORDS, BUDGETS, DEFAULT_BUDGET, plan_for
from core.methods.plan_words import KEEPS, about, duration, finish_words, passed_over

MINUTES = "minutes"
CLOCK_MS = 20_000  # how often "done around 14:54 if started now" moves on with the clock


class AutoBox(QGroupBox):
    changed = Signal()

    def __init__(self, state, parent=None) -> None:
        super().__init__("Auto: try several candidates and keep the most accurate (recommended)", parent)
        self.state = state
        self.suggestion = None
        self.setCheckable(True)
        self.setChecked(state.auto_budget is not None)
        col = QVBoxLayout(self)
        row = QHBoxLayout()
        self.budget_label = QLabel("Time budget:")
        row.addWidget(self.budget_label)
        self.budget_combo = QComboBox()
        for name in BUDGETS:
            self.budget_combo.addItem(f"{name.capitalize()} — {BUDGET_WORDS[name]}", name)
        self.budget_combo.addItem("A number of minutes", MINUTES)
        self.budget_combo.setCurrentIndex(BUDGETS.index(DEFAULT_BUDGET))
        self.budget_combo.setAccessibleName("Time budget")
        self.minutes_spin = QSpinBox()
        self.minutes_spin.setRange(1, 24 * 60)
        self.minutes_spin.setValue(10)
        self.minutes_spin.setSuffix(" min")
        self.minutes_spin.setAccessibleName("Minutes")
        self.minutes_spin.hide()
        row.addWidget(self.budget_combo, 1)
        row.addWidget(self.minutes_spin)
        col.addLayout(row)
        self.plan_label = QLabel()
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextFormat(Qt.TextFormat.RichText)
        self.plan_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plan_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        col.addWidget(self.plan_label)
        self.toggled.connect(self._changed)
        self.budget_combo.currentIndexChanged.connect(self._changed)
        self.minutes_spin.valueChanged.connect(self._changed)
        self.clock = QTimer(self)  # a walkthrough read "done around 14:54 if started now" at 14:55
        self.clock.setInterval(CLOCK_MS)
        self.clock.timeout.connect(self._show_plan_text)
        self.clock.start()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        """The scroll area around the page does not pass word-wrapped heights on: ask for the full one."""
        width = max(200, self.plan_label.width())
        self.plan_label.setMinimumHeight(0)  # heightForWidth never answers less than the minimum: it could not shrink
        self.plan_label.setMinimumHeight(max(0, self.plan_label.heightForWidth(width)))

    def budget(self) -> str:
        data = self.budget_combo.currentData()
        return f"{self.minutes_spin.value()}" if data == MINUTES else data

    def show_suggestion(self, suggestion) -> None:
        self.suggestion = suggestion
        self._follow_state()
        self._changed(follow=True)

    def _follow_state(self) -> None:
        """Ticked, and its budget, as the wizard's state says (a run opened from disk brings its own)."""
        budget = self.state.auto_budget
        for widget in (self, self.budget_combo, self.minutes_spin):
            widget.blockSignals(True)
        self.setChecked(budget is not None)
        if budget is not None:
            index = self.budget_combo.findData(budget)
            if index < 0 and budget.replace(".", "", 1).isdigit():  # minutes
                index = self.budget_combo.findData(MINUTES)
                self.minutes_spin.setValue(max(1, round(float(budget))))
            self.budget_combo.setCurrentIndex(max(0, index))
        for widget in (self, self.budget_combo, self.minutes_spin):
            widget.blockSignals(False)

    def _changed(self, *_, follow: bool = False) -> None:
        """``follow``: the box was set from the state, which is not written back (2.5 minutes from a command-line
        run read as 2 in the spin box, and writing that made an opened run stale)."""
        on = self.isChecked()  # off, the box folds to one line (a walkthrough saw an empty grey box)
        self.budget_label.setVisible(on)
        self.budget_combo.setVisible(on)
        self.minutes_spin.setVisible(on and self.budget_combo.currentData() == MINUTES)
        if not follow:
            self.state.auto_budget = self.budget() if self.isChecked() else None
        self._show_plan()
        self.changed.emit()

    def _show_plan(self) -> None:
        self._show_plan_text()
        self._fit_height()

    def _show_plan_text(self) -> None:
        if self.suggestion is None:
            self.plan_label.setText("")
            return
        if not self.isChecked():
            self.plan_label.setText("Off: the strategy chosen below is trained as it is.")
            return
        try:
            auto_plan = plan_for(self.suggestion, self.state.settings, self.budget())
        except TransferLabError as exc:
            self.plan_label.setText(f"<b>{html.escape(str(exc))}</b>")
            return
        items = "".join(f"<br>&nbsp;&nbsp;{i}. {html.escape(c.title)} ({about(c.predicted_s)})"
                        for i, c in enumerate(auto_plan.candidates, 1))
        self.plan_label.setText(f"<b>{html.escape(finish_words(auto_plan))}</b><br>Tries, in this order, and "
                                f"{html.escape(KEEPS)}:{items}" + self._last_run())

    def _last_run(self) -> str:
        """The candidates of the last Auto run of this wizard: score, time, winner."""
        rows = getattr(self.state.result, "rows", None)
        if not rows:
            return ""
        items, kept = [], next((r for r in rows if r.get("winner")), {})
        for r in rows:
            if "val_accuracy" in r:
                what = html.escape(f"{r['val_accuracy']:.1%} on the validation images, {duration(r['seconds'])}"
                                   + passed_over(r, kept))
            else:
                what = html.escape(r.get("reason", r["status"]))
            title = html.escape(r["title"])
            items.append(f"<br>&nbsp;&nbsp;• {'<b>' + title + ' — kept</b>' if r.get('winner') else title}: {what}")
        return "<br><br>Last Auto run:" + "".join(items)
