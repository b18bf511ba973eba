"""Main window. For now a placeholder that points to the command line; the wizard comes next."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from core import __version__

PLACEHOLDER_TEXT = (
    "<h2>TransferLab {version}</h2>"
    "<p>Train an image classifier on your own pictures by transfer learning.</p>"
    "<p>The step-by-step wizard (data → model → strategy → freeze depth → training → results) "
    "is coming in the next release.</p>"
    "<p>Meanwhile everything works from a terminal:<br>"
    "<code>transferlab scan FOLDER</code> · <code>transferlab advise FOLDER</code> · "
    "<code>transferlab train FOLDER --out RUN</code> · <code>transferlab predict RUN IMAGES</code></p>"
)


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("TransferLab")
        self.resize(760, 420)
        label = QLabel(PLACEHOLDER_TEXT.format(version=__version__))
        label.setObjectName("placeholder")
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(32, 32, 32, 32)
        layout.addWidget(label)
        self.setCentralWidget(central)
