"""The four-quadrant thresholds (no torch here: the GUI draws them before torch has loaded).

Size: *small* when the median number of training images per class is below ``SMALL_MAX_PER_CLASS``.
Similarity: *similar* when the final features separate the classes at least as well as the earlier
ones, within ``SIMILARITY_TOLERANCE`` (see core.advisor).
"""

SMALL_MAX_PER_CLASS = 200
SIMILARITY_TOLERANCE = 0.02
