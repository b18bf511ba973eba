"""A folder dataset of real photos that ship inside a PyPI package (scikit-image), for benchmarks.

Each class is one photo (astronaut, cat, coffee, rocket, …); images are crops of random size and
position, saved as JPEG at their own resolution (128-400 px), like photos of different sizes. Training
crops come from the left 65% of each photo, validation crops from the right 35%, so validation
images show regions the model never trained on.

    python -m bench.photo_patches OUT [--per-class 50] [--val-per-class 15] [--classes 8] [--quick]

``--quick`` writes 2 classes of 3 + 2 crops (a smoke test). The last line is ``images_written=N``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina", "immunohistochemistry",
          "camera", "coins", "brick", "grass", "gravel", "moon")
SPLIT_AT = 0.65


def _photo(name: str) -> np.ndarray:
    from skimage import data
    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image[..., :3].astype(np.uint8)


def _crops(photo: np.ndarray, count: int, x_range: tuple[float, float], rng) -> list[Image.Image]:
    h, w = photo.shape[:2]
    x0, x1 = int(w * x_range[0]), int(w * x_range[1])
    out = []
    for _ in range(count):
        size = int(rng.uniform(0.3, 0.6) * min(h, x1 - x0))
        x = int(rng.integers(x0, x1 - size + 1))
        y = int(rng.integers(0, h - size + 1))
        out.append(Image.fromarray(photo[y:y + size, x:x + size]))
    return out


def write(out: Path, per_class: int = 50, val_per_class: int = 15, classes: int = 8, seed: int = 0) -> Path:
    """Write ``out/train/<photo>/*.jpg`` and ``out/val/<photo>/*.jpg``; returns ``out``."""
    rng = np.random.default_rng(seed)
    for name in PHOTOS[:classes]:
        photo = _photo(name)
        for split, count, x_range in (("train", per_class, (0.0, SPLIT_AT)), ("val", val_per_class, (SPLIT_AT, 1.0))):
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i, crop in enumerate(_crops(photo, count, x_range, rng)):
                crop.save(folder / f"{name}_{i:03d}.jpg", quality=90)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--val-per-class", type=int, default=15)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="2 classes of 3 + 2 crops: a smoke test")
    a = parser.parse_args()
    written = write(Path(a.out), *((3, 2, 2) if a.quick else (a.per_class, a.val_per_class, a.classes)))
    print(written.resolve())
    print(f"images_written={sum(1 for _ in written.rglob('*.jpg'))}")
