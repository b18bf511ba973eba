"""Choosing the compute device: CUDA, then Apple MPS, then CPU."""

import torch

from core.base.errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def available_devices() -> list[str]:
    """Devices that exist on this machine, best first."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    found.append("cpu")
    return found


def resolve_device(choice: str = "auto") -> torch.device:
    if choice not in DEVICE_CHOICES:
        raise DeviceError(f"Unknown device '{choice}'; choose one of {', '.join(DEVICE_CHOICES)}")
    available = available_devices()
    if choice == "auto":
        return torch.device(available[0])
    if choice not in available:
        raise DeviceError(f"{choice.upper()} was requested but is not available on this computer; "
                          f"available: {', '.join(available)}")
    return torch.device(choice)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA GPU ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"
