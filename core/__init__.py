"""TransferLab core: all ML and data logic. Never imports Qt.

The GUI (``app/``) and the headless CLI (``core.cli``) call the same functions
here; long-running functions take plain callbacks and a :class:`CancelToken`.
"""

__version__ = "0.1.0"
