"""TransferLab desktop GUI (PySide6). Only wires widgets to ``core``."""
