"""numpy RGB arrays (made off the GUI thread) to Qt pixmaps (on the GUI thread)."""

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def pixmap_from_array(array: np.ndarray) -> QPixmap:
    array = np.ascontiguousarray(array[..., :3], dtype=np.uint8)
    h, w = array.shape[:2]
    image = QImage(array.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image)
