"""Step 4: how many pretrained layer groups to train, learning rates, epochs and augmentation (with examples)."""

import html
from dataclasses import replace

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QSizePolicy, QSlider, QSpinBox, QVBoxLayout, QWidget)

from app.glossary import explain
from app.pages.base import WizardPage
from app.widgets.augmentation_strip import AugmentationStrip
from app.widgets.layer_table import LayerGroupTable
from core.data.augmentation import PRESETS
from core.training.settings import DROPPABLE, HEAD_ONLY_STRATEGIES, consistent
from core.training.settings_words import augmentation_words, depth_notes, methods_words

PREVIEW_COUNT = 6
PREVIEW_DELAY_MS = 250
ORIENTATION_TIP = "Switch off where orientation carries meaning (digits, text, some scans)"


def _lr_spin() -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(5)
    spin.setSingleStep(1e-4)
    spin.setRange(1e-6, 1.0)
    spin.setAccelerated(True)
    return spin


class FreezePage(WizardPage):
    title = "How much to retrain"
    subtitle = ("Choose how many of the pretrained layer groups are trained, counted from the output; the rest "
                "stay as they are (frozen; the count is called the freeze depth). A new classifier for your classes "
                "is always trained. Below: learning rates, "
                "length of training and how the training images are varied (augmentation).")

    previewUpdated = Signal()

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self._preview_seed = 0
        self._preview_pending = False
        self._preview_key: tuple | None = None  # what the shown examples were made from
        self._running_key: tuple | None = None
        self._loading = False
        self._wanted: dict = {}  # fine-tuning methods switched on before a change left no room for them

        # -- freeze depth --------------------------------------------------------------------------
        self.freeze_box = QGroupBox("Pretrained layers to train")
        fcol = QVBoxLayout(self.freeze_box)
        fcol.setSpacing(6)
        self.missing_label = QLabel("The strategy has not been measured for this dataset and model yet. Go back "
                                    "to the <b>Strategy</b> step first; the layer groups are shown here "
                                    "once it has finished.")
        self.missing_label.setWordWrap(True)
        self.missing_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.missing_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        fcol.addWidget(self.missing_label)
        self.freeze_content = QWidget()
        inner = QVBoxLayout(self.freeze_content)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.setSpacing(6)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.setSingleStep(1)
        self.slider.setPageStep(1)
        self.slider.setAccessibleName("Number of pretrained layer groups to train")
        inner.addWidget(self.slider)
        ends = QHBoxLayout()
        ends.addWidget(QLabel("Only the new classifier"))
        ends.addStretch(1)
        ends.addWidget(QLabel("All layers"))
        inner.addLayout(ends)
        self.depth_label = QLabel()  # its own line: between the two ends it wrapped to four
        self.depth_label.setWordWrap(True)  # one long line made the window 74 px wider on this step
        self.depth_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        inner.addWidget(self.depth_label)
        self.slider.setToolTip(explain("Freeze depth (layer groups)", "Parameters"))
        self.cut_label = QLabel()  # a cut network: where, in the Strategy step's words and in this table's rows
        self.cut_label.setWordWrap(True)
        self.cut_label.setToolTip(explain("Layer (feature level)", "Freeze depth (layer groups)"))
        inner.addWidget(self.cut_label)
        self.table = LayerGroupTable()
        inner.addWidget(self.table, 1)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        inner.addWidget(self.summary_label)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setObjectName("hint")
        inner.addWidget(self.note_label)
        fcol.addWidget(self.freeze_content, 1)

        # -- training settings -----------------------------------------------------------------------
        self.settings_box = QGroupBox("Training settings")
        form = QFormLayout(self.settings_box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.head_lr_spin, self.backbone_lr_spin = _lr_spin(), _lr_spin()
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 500)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 512)
        tips = [(self.head_lr_spin, explain("Learning rate") + "<p>This one is for the new classifier.</p>"),
                (self.backbone_lr_spin, explain("Learning rate") + "<p>This one is for the pretrained layers that "
                 "are trained: much lower, so what they learnt from ImageNet is only gently adjusted.</p>"),
                (self.epochs_spin, explain("Epoch") + "<p>The best epoch is kept, so too many rarely hurts.</p>"),
                (self.batch_spin, explain("Batch size"))]
        self.aug_combo = QComboBox()
        for name, preset in PRESETS.items():
            self.aug_combo.addItem(name, name)
            self.aug_combo.setItemData(self.aug_combo.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole)
        self.aug_description = QLabel()
        self.aug_description.setWordWrap(True)
        self.flips_check = QCheckBox("Allow flips")
        self.flips_check.setToolTip(ORIENTATION_TIP)
        self.rotation_check = QCheckBox("Allow rotations")
        self.rotation_check.setToolTip(ORIENTATION_TIP)
        self.converged_check = QCheckBox("Fit the classifier in one go (recommended)")
        self.converged_check.setToolTip(explain("Fit in one go (to convergence)") + "<p>Untick to train in epochs.</p>")
        form.addRow(self.converged_check)
        form.addRow("Learning rate, new classifier:", self.head_lr_spin)
        form.addRow("Learning rate, pretrained layers:", self.backbone_lr_spin)
        form.addRow("Epochs:", self.epochs_spin)
        form.addRow("Batch size:", self.batch_spin)
        form.addRow("Augmentation:", self.aug_combo)
        form.addRow(self.aug_description)
        checks = QHBoxLayout()
        checks.addWidget(self.flips_check)
        checks.addWidget(self.rotation_check)
        checks.addStretch(1)
        form.addRow(checks)
        for field, tip in tips:  # on the form's label too: the word is there
            field.setToolTip(tip) or form.labelForField(field).setToolTip(tip)
        self.methods_button = QPushButton("Fine-tuning methods…")
        self.methods_button.setToolTip("Two-stage fine-tuning, L2-SP, a learning-rate finder, and adapting to a new "
                                       "setting with unlabeled images")
        self.methods_button.clicked.connect(self.open_methods)
        self.methods_label = QLabel()
        self.methods_label.setWordWrap(True)
        self.methods_label.setObjectName("hint")
        self.methods_label.setToolTip(explain("Fit in one go (to convergence)", "Two-stage fine-tuning", "L2-SP"))
        form.addRow(self.methods_button)
        form.addRow(self.methods_label)

        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(self.freeze_box, 3)
        top.addWidget(self.settings_box, 2)
        self.body.addLayout(top, 1)

        # -- augmentation examples --------------------------------------------------------------------
        self.preview_box = AugmentationStrip(PREVIEW_COUNT)
        self.preview_labels = self.preview_box.labels
        self.shuffle_button, self.preview_status = self.preview_box.shuffle_button, self.preview_box.status
        self.body.addWidget(self.preview_box)

        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self._start_preview)

        self.slider.valueChanged.connect(self._depth_changed)
        self.head_lr_spin.valueChanged.connect(lambda v: self._set(head_lr=float(v)))
        self.backbone_lr_spin.valueChanged.connect(lambda v: self._set(backbone_lr=float(v)))
        self.epochs_spin.valueChanged.connect(lambda v: self._set(epochs=int(v)))
        self.converged_check.toggled.connect(self._classifier_fit_changed)
        self.batch_spin.valueChanged.connect(lambda v: self._set(batch_size=int(v)))
        self.aug_combo.currentIndexChanged.connect(self._augmentation_changed)
        self.flips_check.toggled.connect(lambda on: self._augmentation_changed(allow_flips=on))
        self.rotation_check.toggled.connect(lambda on: self._augmentation_changed(allow_rotation=on))
        self.shuffle_button.clicked.connect(self.shuffle)
        self.task.finished.connect(self._on_preview)
        self.task.cancelled.connect(lambda: None)
        self.task.stopped.connect(self._on_stopped)
        self.task.failed.connect(lambda _msg: self.preview_status.setText("No examples (see the message above)."))
        self._load_settings()

    # hooks ------------------------------------------------------------------------------------
    def on_enter(self) -> None:
        self._load_settings()
        auto = self.state.auto_budget is not None and self.state.adaptation is None
        self.freeze_box.setEnabled(not auto)
        self.settings_box.setEnabled(not auto)
        if auto:
            self.banner.show_message("Auto is on (Strategy step): each candidate it tries brings its own layers, "
                                     "epochs and augmentation. These settings are used only if you untick Auto.",
                                     "info")
        else:
            self.banner.hide()
        if self._current_preview_key() != self._preview_key:
            self.request_preview(immediately=True)

    def is_complete(self) -> bool:
        return self._suggestion() is not None

    def is_busy(self) -> bool:
        return False  # the examples are a quick, cancellable extra; they never hold up the wizard

    def shutdown(self) -> None:
        self._preview_timer.stop()
        self._preview_pending = False  # no new job once this one has stopped
        super().shutdown()

    def open_methods(self):
        from app.methods_dialog import MethodsDialog
        dialog = MethodsDialog(self.state, self)
        dialog.accepted.connect(self._load_settings)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _describe_methods(self) -> None:
        parts = methods_words(self.state.settings, self.state.adaptation)
        self.methods_label.setText("Also: " + "; ".join(parts) + "." if parts else "")
        self.methods_label.setVisible(bool(parts))

    # state <-> widgets ------------------------------------------------------------------------
    def _suggestion(self):
        s = self.state.suggestion
        if s is None or self.state.suggestion_key != self.state.advice_key():
            return None
        return s

    def _classifier_fit_changed(self, converged: bool) -> None:
        if self._loading:
            return
        s = self.state.settings
        # back to epochs: the strategy's usual number rather than the single fit's 1
        self._set(classifier_fit="converged" if converged else "epochs",
                  epochs=s.epochs if converged else max(s.epochs, 10))
        self._load_settings()

    def _set(self, **changes) -> None:
        """Apply ``changes``; a method an earlier change left no room for (two-stage past 0 groups) comes back."""
        if self._loading:
            return
        before = self.state.settings
        self._wanted.update({k: getattr(before, k) for k in DROPPABLE if getattr(before, k)})
        wanted = {k: v for k, v in self._wanted.items() if k not in changes}
        self.state.settings = consistent(replace(before, **changes, **wanted))
        self._describe_methods()

    def _load_settings(self) -> None:
        s = self.state.settings
        self._wanted = {}  # (freeze_page._set) the settings as loaded are what the user wants from here
        self._loading = True
        try:
            self.head_lr_spin.setValue(s.head_lr)
            self.backbone_lr_spin.setValue(s.backbone_lr)
            self.epochs_spin.setValue(s.epochs)
            self.batch_spin.setValue(s.batch_size)
            for spin in (self.epochs_spin, self.batch_spin, self.head_lr_spin):
                spin.setEnabled(s.classifier_fit != "converged")  # a converged fit has none of these
            self.converged_check.setVisible(s.strategy in HEAD_ONLY_STRATEGIES)
            self.converged_check.setChecked(s.classifier_fit == "converged")
            self.aug_combo.setCurrentIndex(max(0, self.aug_combo.findData(s.augmentation)))
            self.flips_check.setChecked(s.allow_flips)
            self.rotation_check.setChecked(s.allow_rotation)
            self._describe_augmentation()
            self._describe_methods()
            suggestion = self._suggestion()
            self.missing_label.setVisible(suggestion is None)
            self.freeze_content.setVisible(suggestion is not None)
            if suggestion is not None:
                groups = suggestion.extra.get("layer_groups") or []
                self.table.fill(groups)
                kept = self.kept_groups()
                top = kept if kept is not None else len(groups)
                self.slider.setRange(0, top)
                self.slider.setValue(max(0, min(s.freeze_depth, top)))
        finally:
            self._loading = False
        if suggestion is not None:
            depth = self.slider.value()
            if depth != s.freeze_depth:
                self._set(freeze_depth=depth)
            self._show_depth(depth)

    def _depth_changed(self, depth: int) -> None:
        self._set(freeze_depth=int(depth))
        self._show_depth(int(depth))

    def kept_groups(self) -> int | None:
        """For a cut ("truncated") network: how many layer groups are left below the cut, when known."""
        suggestion = self._suggestion()
        return suggestion.groups_below_cut(self.state.settings) if suggestion is not None else None

    def _show_depth(self, depth: int) -> None:
        suggestion = self._suggestion()
        if suggestion is None:
            return
        groups = suggestion.extra.get("layer_groups") or []
        kept = self.kept_groups()
        n = kept if kept is not None else len(groups)
        first_trained = n - depth
        self.table.mark(first_trained, n)
        cut = suggestion.cut_words(self.state.settings)
        self.cut_label.setText(html.escape(cut))
        self.cut_label.setVisible(bool(cut))
        total = sum(int(g["params"]) for g in groups[:n])
        trainable = sum(int(g["params"]) for g in groups[first_trained:n])
        pct = 100.0 * trainable / total if total else 0.0
        below = " below the cut" if kept is not None else ""
        self.depth_label.setText(f"{depth} of {n} group{'s' if n != 1 else ''}{below} trained · {pct:.1f}% of the "
                                 f"pretrained parameters{below}")  # of those kept, not of the whole network
        self.summary_label.setText(f"Training <b>{trainable:,}</b> of {total:,} pretrained parameters{below} "
                                   f"({pct:.1f}%) <b>+&nbsp;new&nbsp;classifier</b>")
        self.summary_label.setToolTip("Parameters are the numbers a network learns. The Model step counts the "
                                      "original ImageNet classifier too; it is replaced by your new one, so it is "
                                      "not counted here.")
        self.backbone_lr_spin.setEnabled(depth > 0)
        self._show_note(depth, n)
        self._describe_augmentation()

    def _show_note(self, depth: int, n: int) -> None:
        notes = depth_notes(self.state.settings, depth, self.kept_groups(), self.table.rowCount())
        self.note_label.setText("<br>".join(html.escape(n) for n in notes))
        self.note_label.setVisible(bool(notes))

    def _describe_augmentation(self) -> None:
        s = self.state.settings
        self.aug_description.setText(augmentation_words(s, self.table.rowCount() or None))
        self._agree_orientation(PRESETS.get(s.augmentation))

    def _agree_orientation(self, preset) -> None:
        """Flips and rotations are permissions for the presets that use them: shown unticked and greyed
        out where the preset has none (the choice comes back with a preset that has them)."""
        s = self.state.settings
        for check, used, allowed, what in ((self.flips_check, preset is not None and preset.crop_scale is not None,
                                            s.allow_flips, "flips"),
                                           (self.rotation_check, preset is not None and preset.rotation > 0,
                                            s.allow_rotation, "rotations")):
            check.blockSignals(True)
            check.setEnabled(used)
            check.setChecked(allowed and used)
            check.setToolTip(ORIENTATION_TIP if used else f"The “{s.augmentation}” augmentation makes no {what}.")
            check.blockSignals(False)

    # augmentation examples ------------------------------------------------------------------------
    def _augmentation_changed(self, *_args, **changes) -> None:
        if self._loading:
            return
        preset = self.aug_combo.currentData()
        self._set(augmentation=preset, **changes)
        self._describe_augmentation()
        self.request_preview()

    def shuffle(self) -> None:
        self._preview_seed += 1
        self.request_preview(immediately=True)

    def _current_preview_key(self) -> tuple:
        s = self.state.settings
        root = str(self.state.scan.root) if self.state.scan else None
        return (root, id(self.state.scan), s.model_name, s.image_size, s.augmentation, s.allow_flips,
                s.allow_rotation, s.val_fraction, s.seed, self._preview_seed)

    def request_preview(self, immediately: bool = False) -> None:
        """(Re)make the examples: after a short pause, so quick changes start only one job."""
        if self.state.scan is None:
            self.preview_status.setText("Choose a dataset first.")
            return
        self.preview_status.setText("Updating…")
        self._preview_timer.start(0 if immediately else PREVIEW_DELAY_MS)

    def _start_preview(self) -> None:
        if self.state.scan is None:
            return
        if self.task.is_running():  # finish the old job first; _on_stopped starts the new one
            self._preview_pending = True
            self.task.cancel()
            return
        self._preview_pending = False
        scan, settings, seed = self.state.scan, replace(self.state.settings), self._preview_seed
        self._running_key = self._current_preview_key()
        def work(ctx):
            from core.training.preview import augmentation_examples
            return augmentation_examples(scan, settings, PREVIEW_COUNT, seed, cancel=ctx.cancel)

        self.task.start(work)

    def _on_preview(self, arrays) -> None:
        if self._preview_pending:
            return  # outdated: a newer request starts when this job has stopped
        self._preview_key = self._running_key
        self.preview_box.show_arrays(arrays)
        self.preview_status.setText("" if arrays else "No readable training images to show.")
        self.previewUpdated.emit()

    def _on_stopped(self) -> None:
        if self._preview_pending:
            self._start_preview()

    def preview_pixmaps(self) -> list:
        """The example pictures now shown (for tests and screenshots)."""
        return self.preview_box.pixmaps()
