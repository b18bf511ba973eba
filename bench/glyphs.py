"""A folder dataset of printed glyphs, rendered offline from the fonts a Debian system ships (DejaVu,
package fonts-dejavu-core), for benchmarks: a kind of image far from ImageNet's photos.

Each class is a digit 0-9. Every image draws it in one of the fonts at a random size, position,
rotation, stroke colour and paper shade, with a little blur and noise, at 64x64 px. Training images
use two thirds of the fonts, held-out images the others, so held-out glyphs come from typefaces the
model never saw (like handwriting from new writers).

    python -m bench.glyphs OUT [--per-class 30] [--held-out 20] [--quick]

Without DejaVu fonts it falls back to Pillow's built-in font (one typeface; train and held-out then
differ only in the random drawing). The last line is ``images_written=N``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_FOLDERS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
CLASSES = tuple("0123456789")
SIZE = 64


def fonts() -> list[Path]:
    """DejaVu font files on this system (sorted), or [] when there are none."""
    found = {p for folder in FONT_FOLDERS if folder.is_dir() for p in folder.rglob("DejaVu*.ttf")}
    return sorted(p for p in found if "MathTeX" not in p.name)


def _font(path: Path | None, size: int):
    return ImageFont.truetype(str(path), size) if path else ImageFont.load_default(size)


def draw(char: str, font_path: Path | None, rng: np.random.Generator) -> Image.Image:
    paper = int(rng.integers(170, 256))
    ink = int(rng.integers(0, max(1, paper - 120)))
    canvas = Image.new("L", (SIZE * 2, SIZE * 2), paper)
    font = _font(font_path, int(rng.integers(40, 76)))
    ImageDraw.Draw(canvas).text((SIZE + rng.integers(-10, 11), SIZE + rng.integers(-10, 11)), char, fill=ink,
                                font=font, anchor="mm")
    canvas = canvas.rotate(float(rng.uniform(-20, 20)), resample=Image.BILINEAR, fillcolor=paper)
    image = canvas.crop((SIZE // 2, SIZE // 2, SIZE * 3 // 2, SIZE * 3 // 2))
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.2))))
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, rng.uniform(2, 12), (SIZE, SIZE))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write(out: Path, per_class: int = 30, held_out: int = 20, seed: int = 0,
          classes: tuple[str, ...] = CLASSES) -> Path:
    """Write ``out/train/<digit>/*.png`` and ``out/heldout/<digit>/*.png``; returns ``out``."""
    rng = np.random.default_rng(seed)
    available = fonts() or [None]
    cut = max(1, len(available) * 2 // 3) if len(available) > 1 else 1
    train_fonts, test_fonts = available[:cut], available[cut:] or available
    for part, count, pool in (("train", per_class, train_fonts), ("heldout", held_out, test_fonts)):
        for char in classes:
            folder = out / part / char
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                draw(char, pool[int(rng.integers(len(pool)))], rng).save(folder / f"{char}_{i:04d}.png")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--per-class", type=int, default=30)
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 + 2 glyphs per class: a smoke test")
    a = parser.parse_args()
    written = write(Path(a.out), *((3, 2) if a.quick else (a.per_class, a.held_out)))
    print(written.resolve())
    print(f"images_written={sum(1 for _ in written.rglob('*.png'))}")
