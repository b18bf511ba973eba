"""Load the heavy libraries in the background once the window is up.

The window appears before torch is imported (torch, torchvision and timm take several seconds to
import on a slow laptop); meanwhile the user picks a folder, and by the time a step needs torch it
is usually loaded. Importing from a worker thread is safe: Python's import lock makes a GUI-thread
import of the same module wait for it instead of importing twice.
"""


def import_heavy_modules(ctx) -> None:
    import timm  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    import core.training.trainer  # noqa: F401  (and with it everything training needs)
