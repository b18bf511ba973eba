"""A "torture" dataset: every kind of bad file TransferLab must survive, mixed into good classes.

Good images are crops of real photos that ship with scikit-image (chelsea the cat, coffee, the
astronaut), in many formats and colour modes, with names that have spaces, unicode and a very long
path. ``EXPECTED_SKIPPED`` and ``EXPECTED_DUPLICATES`` say exactly what a scan must report.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

LONG_DIR = "/".join(["a-rather-long-folder-name-for-testing-deep-paths"] * 6)  # ~300 characters

# relative path -> reason (exact, or a prefix ending in "…")
EXPECTED_SKIPPED = {
    "README.txt": "not inside a class folder",
    "cats/empty.jpg": "empty file (0 bytes)",
    "cats/truncated.jpg": "truncated or corrupt image: …",
    "cats/lab colours.tif": "unsupported colour mode 'LAB' …",
    "cats/report.pdf": "not a supported image type '.pdf'",
    "coffee/truncated.png": "truncated or corrupt image: …",
    "coffee/notes.png": "not an image file (format not recognised)",
    "coffee/float colour.tif": "unsupported or corrupt TIFF file …",
    "astronaut/bomb.png": "very large image (900 megapixels, over the 89 MP safety limit): …",
    "astronaut/tiny.png": "image too small (1x1 pixels; at least 16 on each side are needed)",
    "astronaut/broken link.jpg": "broken link (its target does not exist)",
    "astronaut/loop-a.jpg": "cannot read file: Too many levels of symbolic links",
    "astronaut/loop-b.jpg": "cannot read file: Too many levels of symbolic links",
}
NON_ROOT_SKIPPED = {"cats/locked.jpg": "cannot read file: permission denied"}

# (paths, classes, exact) as core.data.health reports them, sorted by first path
EXPECTED_DUPLICATES = [
    (("cats/cat 00 copy.jpg", "cats/cat_00.jpg"), ("cats", "cats"), True),
    (("cats/cat_01.jpg", "cats/cat_01_recompressed.jpg"), ("cats", "cats"), False),
    (("cats/cat_02.png", "coffee/mislabelled.png"), ("cats", "coffee"), True),
]
GOOD_COUNTS = {"astronaut": 4, "cats": 12, "coffee": 6}  # usable images, duplicates included


def _photo(name: str) -> np.ndarray:
    from skimage import data
    return getattr(data, name)()[..., :3]


def _crops(photo: np.ndarray, n: int, size: int = 72) -> list[Image.Image]:
    """``n`` non-overlapping crops on a grid, so no two are near duplicates of each other."""
    h, w = photo.shape[:2]
    cells = [(y, x) for y in range(0, h - size + 1, size + 8) for x in range(0, w - size + 1, size + 8)]
    step = max(1, len(cells) // n)
    return [Image.fromarray(photo[y:y + size, x:x + size]) for y, x in cells[::step][:n]]


def _bomb_png(path: Path, side: int = 30000) -> None:
    """A PNG whose header claims side x side pixels (far past Pillow's limit) with almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) +
                     chunk(b"IEND", b""))


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def make_torture_dataset(root: Path) -> Path:
    root = Path(root)
    cats, coffee, astro = (root / name for name in ("cats", "coffee", "astronaut"))
    for folder in (cats, coffee, astro):
        folder.mkdir(parents=True, exist_ok=True)

    # Good images, in every format and colour mode.
    c = _crops(_photo("chelsea"), 10)
    c[0].save(cats / "cat_00.jpg", quality=92)
    c[1].save(cats / "cat_01.jpg", quality=92)
    c[2].save(cats / "cat_02.png")
    c[3].convert("L").save(cats / "cat_03 grey.png")
    c[4].convert("P", palette=Image.Palette.ADAPTIVE).save(cats / "cat_04_palette.png")
    rgba = c[5].convert("RGBA")
    rgba.putalpha(200)
    rgba.save(cats / "cat_05_alpha.png")
    c[6].convert("CMYK").save(cats / "cat_06_cmyk.jpg")
    c[7].save(cats / "cat_07.bmp")
    c[8].save(cats / "cat_08.webp")
    sixteen = (np.asarray(c[9].convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(sixteen).save(cats / "cat_09_16bit.png")
    # Duplicates: an exact copy, a re-encoded smaller copy, the same picture in another class.
    (cats / "cat 00 copy.jpg").write_bytes((cats / "cat_00.jpg").read_bytes())
    c[1].resize((66, 66), Image.Resampling.LANCZOS).save(cats / "cat_01_recompressed.jpg", quality=75)
    (coffee / "mislabelled.png").write_bytes((cats / "cat_02.png").read_bytes())

    k = _crops(_photo("coffee"), 5)
    for i, im in enumerate(k[:4]):
        im.save(coffee / f"coffee_{i}.jpg", quality=90)
    k[4].save(coffee / "café ☕ crème.jpg", quality=90)

    a = _crops(_photo("astronaut"), 4)
    for i, im in enumerate(a[:3]):
        im.save(astro / f"astronaut_{i}.gif" if i == 2 else astro / f"astronaut_{i}.tif")
    deep = astro / LONG_DIR
    deep.mkdir(parents=True, exist_ok=True)
    a[3].save(deep / "deep in the folders.png")

    # Bad files.
    (root / "README.txt").write_text("These are my pictures.\n")
    (cats / "empty.jpg").write_bytes(b"")
    c[0].save(cats / "truncated.jpg", quality=92)
    _cut(cats / "truncated.jpg")
    Image.new("LAB", (40, 40)).save(cats / "lab colours.tif")
    (cats / "report.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n%%EOF\n")
    k[0].save(coffee / "truncated.png")
    _cut(coffee / "truncated.png")
    (coffee / "notes.png").write_text("not a picture, just notes\n")
    import tifffile
    tifffile.imwrite(coffee / "float colour.tif", np.random.default_rng(0).random((24, 24, 3), dtype=np.float32))
    _bomb_png(astro / "bomb.png")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(astro / "tiny.png")
    os.symlink(astro / "no-such-file.jpg", astro / "broken link.jpg")
    os.symlink(astro / "loop-b.jpg", astro / "loop-a.jpg")
    os.symlink(astro / "loop-a.jpg", astro / "loop-b.jpg")
    if os.geteuid() != 0:  # root reads everything: permissions only bite ordinary users
        c[0].save(cats / "locked.jpg")
        (cats / "locked.jpg").chmod(0)

    # Ignored silently.
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (cats / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    c[0].save(cats / ".hidden.jpg")
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._cat_00.jpg").write_bytes(b"\0\5\26\7")
    return root


def expected_skipped() -> dict[str, str]:
    expected = dict(EXPECTED_SKIPPED)
    if os.geteuid() != 0:
        expected.update(NON_ROOT_SKIPPED)
    return expected


def reason_matches(actual: str, expected: str) -> bool:
    return actual.startswith(expected[:-1].rstrip()) if expected.endswith("…") else actual == expected
