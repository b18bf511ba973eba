"""The placeholder window opens (offscreen) and points to the CLI."""

from app.main_window import MainWindow


def test_main_window_shows(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.windowTitle() == "TransferLab"
    assert "transferlab train" in window.findChild(type(window.centralWidget().layout().itemAt(0).widget()),
                                                   "placeholder").text()
