"""Fine-tuning methods beyond the freeze depth, each explained in plain words: two-stage fine-tuning,
L2-SP, a learning-rate finder, and domain adaptation with unlabeled images of the target setting."""

import math
from dataclasses import replace
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSlider, QSpinBox, QVBoxLayout)

from app import app_settings
from app.pages.base import MessageBanner
from app.tasks import Task
from app.widgets.busy import BusyRow
from app.widgets.plot import plot_widget
from core.methods.adaptation import Adaptation
from core.training.settings import DEFAULT_L2SP, fine_tunes, two_stage_possible

L2SP_STEPS = (0.001, 0.003, 0.01, 0.03, 0.1)  # alpha: weak … strong


def _explain(text: str, source: str = "") -> QLabel:
    """A method's explanation in plain words; where it comes from (a paper, a library) on hover, not in the text
    (a walkthrough listed "(Smith 2017)", "(fastai's fine_tune)" among the words to look up)."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setObjectName("hint")
    if source:
        label.setToolTip(f"From: {source}")
    return label


def _find_lr(scan, settings, ctx):
    from core.methods.lr_finder import find_learning_rate
    return find_learning_rate(scan, settings, progress=ctx.progress, cancel=ctx.cancel)  # floats and lists only


class MethodsDialog(QDialog):
    """Edits a copy of the settings; OK hands them (and the adaptation choice) back to the wizard."""

    def __init__(self, state, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tuning methods")
        self.state = state
        self.settings = replace(state.settings)
        self.adaptation: Adaptation | None = state.adaptation
        s = self.settings
        fine_tuning, two_stage_ok = fine_tunes(s), two_stage_possible(s)

        self.two_stage = QGroupBox("Two-stage fine-tuning: train the new classifier first, then unfreeze")
        self.two_stage.setCheckable(True)
        self.two_stage.setChecked(s.two_stage and two_stage_ok)
        self.two_stage.setEnabled(two_stage_ok)
        self.head_epochs = QSpinBox()
        self.head_epochs.setRange(1, max(1, s.epochs - 1))
        self.head_epochs.setValue(min(s.head_epochs, max(1, s.epochs - 1)))
        self.gradual = QCheckBox("Unfreeze gradually: one more layer group each epoch, from the top")
        self.gradual.setChecked(s.gradual_unfreeze)
        form = QFormLayout(self.two_stage)
        needs = "" if two_stage_ok else (" <b>Needs pretrained weights, a fine-tune strategy with at least one layer "
                                         "group trained and 2 or more epochs</b> (Strategy and Freeze-depth steps).")
        form.addRow(_explain("The new classifier starts from random numbers; its first large errors would push the "
                             "pretrained layers around. Training it alone first protects them." + needs,
                             "fastai's fine_tune (Howard and Gugger, 2020)"))
        form.addRow(f"Epochs for the classifier alone (of {s.epochs}):", self.head_epochs)
        form.addRow(self.gradual)

        self.l2sp = QGroupBox("Keep the pretrained layers close to where they started (L2-SP)")
        self.l2sp.setCheckable(True)
        self.l2sp.setChecked(s.l2sp_alpha > 0 and fine_tuning)
        self.l2sp.setEnabled(fine_tuning)
        self.l2sp_slider = QSlider(Qt.Orientation.Horizontal)
        self.l2sp_slider.setRange(0, len(L2SP_STEPS) - 1)
        alpha = s.l2sp_alpha or DEFAULT_L2SP
        self.l2sp_slider.setValue(min(range(len(L2SP_STEPS)), key=lambda i: abs(L2SP_STEPS[i] - alpha)))
        self.l2sp_value = QLabel()
        strength_tip = ("Strength (α, alpha): how hard the trained layers are pulled back towards their pretrained "
                        "values. Weak lets them adapt more to your images; strong keeps them close to ImageNet.")
        self.l2sp_slider.setToolTip(strength_tip)
        self.l2sp_value.setToolTip(strength_tip)
        self.l2sp_slider.valueChanged.connect(self._show_alpha)
        row = QHBoxLayout()
        row.addWidget(QLabel("weak"))
        row.addWidget(self.l2sp_slider, 1)
        row.addWidget(QLabel("strong"))
        row.addWidget(self.l2sp_value)
        col = QVBoxLayout(self.l2sp)
        col.addWidget(_explain("Fine-tuning may drift far from what ImageNet taught the network, which hurts with few "
                               "images. This keeps the trained layers near their pretrained values, instead of "
                               "pulling them towards zero. Stronger = closer.",
                               "L2-SP (Li, Grandvalet and Davoine, 2018)"))
        col.addLayout(row)

        self.lr_box = QGroupBox("Learning-rate finder")
        self.lr_task = Task(self)
        self.lr_busy = BusyRow(self.lr_task)
        self.lr_button = QPushButton("Find a learning rate")
        self.lr_button.clicked.connect(self.find_lr)
        self.lr_use = QPushButton()
        self.lr_use.hide()
        self.lr_use.clicked.connect(self._use_lr)
        self.lr_plot = plot_widget(background=self.palette().color(self.backgroundRole()))
        self.lr_plot.setLogMode(x=True, y=False)
        self.lr_plot.setLabel("bottom", "learning rate (new classifier)")
        self.lr_plot.setLabel("left", "training loss")
        self.lr_plot.setMinimumHeight(150)
        self.lr_plot.hide()
        self.lr_text = QLabel()
        self.lr_text.setWordWrap(True)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(self.lr_button)
        buttons_row.addWidget(self.lr_use)
        buttons_row.addStretch(1)
        col = QVBoxLayout(self.lr_box)
        col.addWidget(_explain("A short test: about 80 training steps with a learning rate that grows "
                               "from tiny to huge. The loss first falls, then explodes; a good learning rate is "
                               "where it falls fastest. Nothing is saved.",
                               "the learning-rate range test (Smith, 2017)"))
        col.addLayout(buttons_row)
        col.addWidget(self.lr_busy)
        col.addWidget(self.lr_plot)
        col.addWidget(self.lr_text)
        self.lr_task.finished.connect(self._on_lr)
        self.lr_task.stopped.connect(lambda: self.lr_button.setEnabled(True))
        self.lr_result = None  # core.methods.lr_finder.LRFinderResult

        self.adapt = QGroupBox("Adapt to a new setting with unlabeled images (domain adaptation, DANN)")
        self.adapt.setCheckable(True)
        self.adapt.setChecked(self.adaptation is not None)
        self.target_edit, self.test_edit = QLineEdit(), QLineEdit()
        self.target_edit.setPlaceholderText("a folder of images from the new setting (no labels needed)")
        self.test_edit.setPlaceholderText("optional: labelled images of the new setting, one subfolder per class")
        self.domain_weight = QDoubleSpinBox()
        self.domain_weight.setRange(0.1, 5.0)
        self.domain_weight.setSingleStep(0.1)
        self.domain_weight.setValue(self.adaptation.weight if self.adaptation else 1.0)
        if self.adaptation:
            self.target_edit.setText(self.adaptation.target)
            self.test_edit.setText(self.adaptation.test or "")
        form = QFormLayout(self.adapt)
        form.addRow(_explain("Your labelled images come from one setting (a scanner, a factory line, a camera), but "
                             "the model will be used in another. Add images from the new setting — no labels "
                             "needed. Training then also learns features that cannot tell the two settings apart, "
                             "so what it learned carries over. The top layers are fine-tuned "
                             "for this. With labelled images of the new setting, their accuracy is reported.",
                             "domain-adversarial training, DANN (Ganin et al., 2016)"))
        form.addRow("Unlabeled images:", self._folder_row(self.target_edit))
        form.addRow("Labelled test images:", self._folder_row(self.test_edit))
        form.addRow("Strength:", self.domain_weight)

        self.banner = MessageBanner(self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.two_stage, self.l2sp, self.lr_box, self.adapt, self.banner):
            layout.addWidget(widget)
        layout.addWidget(buttons)
        self._show_alpha()
        self.resize(760, 900)

    # what the user does -------------------------------------------------------------------------
    def find_lr(self) -> None:
        scan = self.state.scan
        if scan is None or self.lr_task.is_running():
            return
        settings = self.chosen_settings()
        self.lr_button.setEnabled(False)
        self.lr_busy.progress.setRange(0, 0)
        self.lr_busy.show()
        self.lr_task.start(lambda ctx: _find_lr(scan, settings, ctx))

    def choose_folder(self, title: str) -> str | None:
        start = app_settings.get_str("methods/last_folder", str(Path.home()))
        return QFileDialog.getExistingDirectory(self, title, start) or None

    def chosen_settings(self):
        s = self.settings
        two_stage = self.two_stage.isEnabled() and self.two_stage.isChecked()
        return replace(s, two_stage=two_stage, head_epochs=self.head_epochs.value(),
                       gradual_unfreeze=two_stage and self.gradual.isChecked(),
                       l2sp_alpha=L2SP_STEPS[self.l2sp_slider.value()] if self.l2sp.isEnabled() and
                       self.l2sp.isChecked() else 0.0)

    def chosen_adaptation(self) -> Adaptation | None:
        if not self.adapt.isChecked():
            return None
        return Adaptation(self.target_edit.text().strip(), self.test_edit.text().strip() or None,
                          float(self.domain_weight.value()))

    def accept(self) -> None:
        adaptation = self.chosen_adaptation()
        problem = adaptation.problem() if adaptation else None
        if problem:
            self.banner.show_message(problem, "error")
            return
        if self.lr_task.is_running():
            self.lr_task.cancel()
            self.lr_task.wait(30000)
        self.state.settings, self.state.adaptation = self.chosen_settings(), adaptation
        super().accept()

    def reject(self) -> None:
        if self.lr_task.is_running():
            self.lr_task.cancel()
            self.lr_task.wait(30000)
        super().reject()

    # internals --------------------------------------------------------------------------------
    def _folder_row(self, edit: QLineEdit) -> QHBoxLayout:
        button = QPushButton("Choose…")

        def choose():
            folder = self.choose_folder("Choose a folder")
            if folder:
                app_settings.set_value("methods/last_folder", folder)
                edit.setText(folder)
        button.clicked.connect(choose)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(button)
        return row

    def _show_alpha(self) -> None:
        self.l2sp_value.setText(f"α = {L2SP_STEPS[self.l2sp_slider.value()]:g}")

    def _on_lr(self, result) -> None:
        self.lr_busy.hide()
        self.lr_result = result
        self.lr_plot.clear()
        self.lr_plot.plot(result.lrs, result.losses, pen=pg.mkPen("#1a73e8", width=2))
        suggestion = result.suggestion
        self.lr_plot.addItem(pg.InfiniteLine(pos=math.log10(suggestion), angle=90,
                                             pen=pg.mkPen("#e8710a", width=2, style=Qt.PenStyle.DashLine)))
        self.lr_plot.show()
        self.lr_text.setText(f"Suggested: <b>{suggestion:.1e}</b> for the new classifier and "
                             f"{result.backbone_suggestion:.1e} for the pretrained layers. {result.reason} "
                             f"({result.seconds:.0f} s)")
        self.lr_use.setText(f"Use {suggestion:.1e}")
        self.lr_use.show()

    def _use_lr(self) -> None:
        if self.lr_result:
            self.settings = self.lr_result.apply(self.settings)
            self.lr_use.setText("Used ✓")
            self.lr_use.setEnabled(False)
