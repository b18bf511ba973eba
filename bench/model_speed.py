"""Measure each catalog model's CPU inference speed (images/s, batch 8, fp32) on this machine.

    .venv/bin/python -m bench.model_speed      # prints a table; feeds core/models/catalog.py's relative speeds
    .venv/bin/python -m bench.model_speed --quick    # seconds: two models at 64 px, a smoke test

The last line is ``fastest_images_per_second=X slowest_relative=Y``.
"""

import argparse
import time

import timm
import torch

from core.models.catalog import CATALOG


def images_per_second(name: str, size: int, batch: int = 8, repeats: int = 3) -> float:
    model = timm.create_model(name, pretrained=False).eval()
    x = torch.randn(batch, 3, size, size)
    with torch.inference_mode():
        model(x)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return batch * repeats / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two models at 64 px, one repeat: a smoke test")
    quick = parser.parse_args().quick
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    speeds = []
    for info in CATALOG[:2] if quick else CATALOG:
        speed = images_per_second(info.name, 64 if quick else info.input_size, repeats=1 if quick else 3)
        speeds.append(speed)
        print(f"{info.name:26} {speed:7.1f} img/s  relative {speed / speeds[0]:5.2f}")
    print(f"fastest_images_per_second={max(speeds):.1f} slowest_relative={min(speeds) / speeds[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
