"""Write small folders of REAL photos that ship inside a PyPI package (scikit-image), for
end-to-end checks and benchmarks with no network.

* ``textures``: brick, grass and gravel (512x512 grayscale photos), cut into patches.
  Train/val patches come from the left 60% of each photo, held-out patches from
  the right 40%, so held-out images were never seen, even partly.
* ``faces``: scikit-image's LFW subset, 100 face and 100 non-face crops (25x25).
  The last 20 of each are held out.

    python -m bench.real_photos OUT_DIR [--quick]   # writes OUT_DIR/{textures,faces}/{train,heldout}/CLASS/*.png

``--quick`` writes a few textures only (a smoke test). The last line is ``images_written=N``.
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def write_textures(out: Path, patch: int = 96, per_class: int = 40, held_out: int = 10, seed: int = 0) -> None:
    from skimage import data
    rng = np.random.default_rng(seed)
    for name in ("brick", "grass", "gravel"):
        photo = getattr(data, name)()
        h, w = photo.shape[:2]
        split_x = int(w * 0.6)
        for part, count, (x0, x1) in (("train", per_class, (0, split_x - patch)),
                                      ("heldout", held_out, (split_x, w - patch))):
            folder = out / "textures" / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                x, y = int(rng.integers(x0, x1 + 1)), int(rng.integers(0, h - patch + 1))
                Image.fromarray(photo[y:y + patch, x:x + patch]).save(folder / f"{name}_{i:03d}.png")


def write_faces(out: Path, held_out: int = 20) -> None:
    from skimage import data
    images = data.lfw_subset()  # 100 faces then 100 non-faces, floats in [0, 1]
    for label, block in (("face", images[:100]), ("not_face", images[100:])):
        for i, array in enumerate(block):
            part = "heldout" if i >= len(block) - held_out else "train"
            folder = out / "faces" / part / label
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((array * 255).astype(np.uint8)).save(folder / f"{label}_{i:03d}.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="real-photos")
    parser.add_argument("--quick", action="store_true", help="a few textures only: a smoke test")
    args = parser.parse_args()
    target = Path(args.out)
    if args.quick:
        write_textures(target, per_class=3, held_out=2)
    else:
        write_textures(target)
        write_faces(target)
    print(target.resolve())
    print(f"images_written={sum(1 for _ in target.rglob('*.png'))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
