"""numpy RGB arrays (made off the GUI thread) to Qt pixmaps (on the GUI thread)."""

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def pixmap_from_array(array: np.ndarray) -> QPixmap:
    array = np.ascontiguousarray(array[..., :3], dtype=np.uint8)
    h, w = array.shape[:2]
    image = QImage(array.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image)


def fitted_pixmap(array: np.ndarray, size: int) -> QPixmap:
    """The image as large as fits ``size`` x ``size``, enlarged too (a 128-pixel photo was shown stamp-small)."""
    from PySide6.QtCore import Qt
    return pixmap_from_array(array).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)
