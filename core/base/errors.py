"""Exceptions whose message is meant for the user, as-is."""


class TransferLabError(Exception):
    """An error the user can act on; its message is shown without a traceback."""


class DatasetError(TransferLabError):
    """The dataset folder cannot be used as given."""


class ImageLoadError(TransferLabError):
    """One file could not be read as an image; the message is the reason."""


class WeightsError(TransferLabError):
    """Pretrained or saved weights cannot be found, read or trusted."""


class DeviceError(TransferLabError):
    """The requested compute device does not exist on this machine."""


class BundleError(TransferLabError):
    """A saved model bundle is missing, incomplete or unreadable."""


class Cancelled(Exception):
    """Raised inside long operations when the user pressed Cancel."""
