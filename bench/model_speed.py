"""Measure each catalog model's CPU inference speed (images/s, batch 8, fp32) on this machine.

    .venv/bin/python -m bench.model_speed      # prints a table; feeds core/catalog.py's relative speeds
"""

import time

import timm
import torch

from core.catalog import CATALOG


def images_per_second(name: str, size: int, batch: int = 8, repeats: int = 3) -> float:
    model = timm.create_model(name, pretrained=False).eval()
    x = torch.randn(batch, 3, size, size)
    with torch.inference_mode():
        model(x)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return batch * repeats / (time.perf_counter() - start)


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    base = None
    for info in CATALOG:
        speed = images_per_second(info.name, info.input_size)
        base = base or speed
        print(f"{info.name:26} {speed:7.1f} img/s  relative {speed / base:5.2f}")
