"""Generate small, clearly learnable image datasets for tests, and fingerprint folders."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# kind -> (background colour, shape); kinds beyond the list cycle with a shifted hue.
_KINDS = [
    ((200, 40, 40), "circle"),
    ((40, 60, 200), "square"),
    ((40, 170, 60), "diagonals"),
    ((220, 200, 40), "hstripes"),
    ((150, 50, 180), "cross"),
    ((40, 180, 190), "vstripes"),
    ((120, 120, 120), "triangle"),
    ((230, 130, 30), "ring"),
]


def make_image(kind: int, size: int = 48, seed: int = 0) -> Image.Image:
    """An RGB image of class ``kind``: a coloured background with a bright shape, jittered by ``seed``."""
    rng = np.random.default_rng([kind, seed])
    base, shape = _KINDS[kind % len(_KINDS)]
    shift = 60 * (kind // len(_KINDS))
    bg = tuple(int(np.clip((c + shift) % 256 + rng.integers(-20, 21), 0, 255)) for c in base)
    im = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(im)
    fg = (255, 255, 255) if kind % 2 == 0 else (255, 255, 160)
    r = int(size * rng.uniform(0.18, 0.28))
    cx, cy = (int(rng.integers(r + 1, size - r - 1)) for _ in range(2))
    box = (cx - r, cy - r, cx + r, cy + r)
    w = max(1, size // 16)
    if shape == "circle":
        draw.ellipse(box, fill=fg)
    elif shape == "square":
        draw.rectangle(box, fill=fg)
    elif shape == "diagonals":
        for off in range(-size, size, max(4, size // 6)):
            draw.line((off, 0, off + size, size), fill=fg, width=w)
    elif shape == "hstripes":
        for y in range(int(rng.integers(0, 4)), size, max(4, size // 6)):
            draw.line((0, y, size, y), fill=fg, width=w)
    elif shape == "vstripes":
        for x in range(int(rng.integers(0, 4)), size, max(4, size // 6)):
            draw.line((x, 0, x, size), fill=fg, width=w)
    elif shape == "cross":
        draw.line((cx - r, cy, cx + r, cy), fill=fg, width=2 * w)
        draw.line((cx, cy - r, cx, cy + r), fill=fg, width=2 * w)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
    else:  # ring
        draw.ellipse(box, outline=fg, width=2 * w)
    noise = rng.normal(0, 8, (size, size, 3))
    pixels = np.clip(np.asarray(im, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def _kinds(classes: dict[str, int] | list[str]) -> dict[str, int]:
    return dict(classes) if isinstance(classes, dict) else {name: i for i, name in enumerate(classes)}


def _write(im: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        im.save(path, quality=92)
    else:
        im.save(path)


def make_class_folder(root: Path, classes: dict[str, int] | list[str], per_class: int = 6, size: int = 48,
                      ext: str = ".png", seed: int = 0, nested: str | None = None) -> Path:
    """Write ``root/<class>/img_XXX<ext>`` (class i uses kind i unless ``classes`` maps names to kinds).

    With ``nested``, the second half of each class goes in ``root/<class>/<nested>/``.
    """
    root = Path(root)
    for name, kind in _kinds(classes).items():
        for i in range(per_class):
            folder = root / name / nested if nested and i >= per_class // 2 else root / name
            _write(make_image(kind, size, seed * 10_000 + i), folder / f"img_{i:03d}{ext}")
    root.mkdir(parents=True, exist_ok=True)
    return root


def make_presplit_folder(root: Path, classes: dict[str, int] | list[str], train: int = 6, val: int = 2,
                         test: int = 2, size: int = 48, ext: str = ".png", seed: int = 0,
                         val_name: str = "val") -> Path:
    """Write ``root/train/<class>/``, ``root/<val_name>/<class>/`` and (if ``test``) ``root/test/<class>/``."""
    root = Path(root)
    for offset, (split, n) in enumerate([("train", train), (val_name, val), ("test", test)]):
        if n:
            make_class_folder(root / split, classes, per_class=n, size=size, ext=ext, seed=seed * 10 + offset + 1)
    root.mkdir(parents=True, exist_ok=True)
    return root


def tree_fingerprint(root: Path) -> dict[str, tuple]:
    """Relative path -> (size, mtime_ns, sha256) for files, (mtime_ns,) for folders (root included)."""
    root = Path(root)
    out: dict[str, tuple] = {".": (root.stat().st_mtime_ns,)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = (p.lstat().st_mtime_ns,)
        for name in filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, digest)
    return out


def misfile_one_per_class(folder: Path, classes: list[str]) -> list[str]:
    """Move the first image of each class into the next class's folder (a known wrong label each); their new paths."""
    import shutil
    moved = []
    for source, target in zip(classes, classes[1:] + classes[:1]):
        image = sorted((folder / source).iterdir())[0]
        shutil.move(image, folder / target / f"misfiled {image.name}")
        moved.append(str(folder / target / f"misfiled {image.name}"))
    return moved
