"""Run this training on a GPU server or cluster: save the run's config and show the exact command
(core.training.cluster); the finished run folder can then be opened here (Your images → Open a run…)."""

from pathlib import Path

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QLabel, QLineEdit, QPlainTextEdit,
                               QPushButton, QSpinBox, QVBoxLayout)

from app import app_settings


class ClusterDialog(QDialog):
    def __init__(self, state, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Run on a server or cluster")
        self.state = state
        self.config_path: Path | None = None
        intro = QLabel("Train the same run on a machine with more GPUs: save its configuration, copy the folder of "
                       "images and the configuration there (same path, or edit <i>data</i> in the file), install "
                       "TransferLab, and start the command below. It uses PyTorch DistributedDataParallel (NCCL on "
                       "GPUs, gloo on CPUs). Afterwards, copy the run folder back and open it here with "
                       "<b>Your images → Open a run…</b> to see its curves and results and to try it.")
        intro.setWordWrap(True)
        self.gpus = QSpinBox()
        self.gpus.setRange(1, 64)
        remembered = app_settings.get_str("cluster/gpus", "2")
        self.gpus.setValue(int(remembered) if remembered.isdigit() else 2)
        self.nodes = QSpinBox()
        self.nodes.setRange(1, 128)
        self.out_edit = QLineEdit(f"runs/{state.settings.model_name}")
        self.save_button = QPushButton("Save configuration…")
        self.save_button.clicked.connect(self.save)
        self.command = QPlainTextEdit()
        self.command.setReadOnly(True)
        self.command.setPlaceholderText("Save the configuration first; the command appears here.")
        self.copy_button = QPushButton("Copy command")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.command.toPlainText()))
        for spin in (self.gpus, self.nodes):
            spin.valueChanged.connect(self._show_command)
        self.out_edit.textChanged.connect(self._show_command)
        form = QFormLayout()
        form.addRow("GPUs (processes) per machine:", self.gpus)
        form.addRow("Machines:", self.nodes)
        form.addRow("Run folder there:", self.out_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.save_button)
        layout.addWidget(self.command, 1)
        layout.addWidget(self.copy_button)
        layout.addWidget(buttons)
        self.resize(720, 440)

    def choose_config_file(self) -> str | None:
        start = app_settings.get_str("cluster/last_folder", str(Path.home()))
        path, _ = QFileDialog.getSaveFileName(self, "Save the run configuration",
                                              str(Path(start) / "transferlab-run.json"), "JSON (*.json)")
        return path or None

    def save(self) -> None:
        from core.training.cluster import write_run_config
        path = self.choose_config_file()
        if not path or self.state.scan is None:
            return
        app_settings.set_value("cluster/last_folder", str(Path(path).parent))
        adaptation = self.state.adaptation
        write_run_config(Path(path), self.state.scan.root, self.state.settings,
                         adaptation.target if adaptation else None, adaptation.test if adaptation else None,
                         adaptation.weight if adaptation else None)
        self.config_path = Path(path)
        self._show_command()

    def _show_command(self) -> None:
        from core.training.cluster import cluster_commands
        app_settings.set_value("cluster/gpus", self.gpus.value())
        if self.config_path is None:
            return
        lines = cluster_commands(self.config_path.name, self.out_edit.text().strip() or "run", self.gpus.value(),
                                 self.nodes.value())
        note = ("# the same command on every machine; HOST_OF_NODE_0: the first machine's address\n"
                if self.nodes.value() > 1 else "# in the folder holding the configuration file\n")
        self.command.setPlainText(note + "\n".join(lines))
        self.copy_button.setEnabled(True)
