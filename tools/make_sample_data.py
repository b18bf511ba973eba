"""Regenerate resources/sample_data: real photo patches (brick, grass, gravel) from scikit-image's
CC0-licensed texture photos, for the app's "Try with sample data" button.

    .venv/bin/python tools/make_sample_data.py
"""

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "resources" / "sample_data"
PER_CLASS = 24
PATCH = 128

LICENCE = """Sample data for TransferLab's "Try with sample data" button.

Patches cut from three photographs shipped with scikit-image (skimage.data):
- brick:  from CC0Textures "Bricks25", Creative Commons CC0 licence
- grass:  from DeviantArt user linolafett, "Grass-01", Creative Commons CC0 licence
- gravel: from CC0Textures "Gravel04", Creative Commons CC0 licence
as prepared by the scikit-image developers (see the skimage.data docstrings).
CC0: no rights reserved. Regenerate with tools/make_sample_data.py.
"""


def main() -> None:
    from skimage import data
    rng = np.random.default_rng(0)
    shutil.rmtree(OUT, ignore_errors=True)
    for name in ("brick", "grass", "gravel"):
        photo = getattr(data, name)()
        folder = OUT / name
        folder.mkdir(parents=True)
        for i in range(PER_CLASS):
            y, x = (int(v) for v in rng.integers(0, photo.shape[0] - PATCH, size=2))
            Image.fromarray(photo[y:y + PATCH, x:x + PATCH]).save(folder / f"{name}_{i:02d}.jpg", quality=90)
    (OUT.parent / "sample_data_LICENSE.txt").write_text(LICENCE, encoding="utf-8")


if __name__ == "__main__":
    main()
