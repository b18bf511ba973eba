"""Guard against Qt-binding releases that corrupt None's reference count (PySide6 6.12.0 on
Python 3.11: every call returning nothing dropped a reference, and the app aborted after a few
thousand calls with 'Fatal Python error: none_dealloc')."""

import sys

from PySide6.QtWidgets import QProgressBar


def test_qt_calls_do_not_leak_or_drop_references_to_none(qapp):
    bar = QProgressBar()
    for _ in range(10):
        qapp.processEvents()
        bar.setValue(1)
    before = sys.getrefcount(None)
    for i in range(2000):
        qapp.processEvents()
        bar.setValue(i % 100)
    assert abs(sys.getrefcount(None) - before) < 50
