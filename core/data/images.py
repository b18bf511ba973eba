"""Robust image decoding: any supported file becomes a loaded 8-bit RGB image or an ImageLoadError.

Truncated files are always detected (``ImageFile.LOAD_TRUNCATED_IMAGES`` is never set); every
decoding failure, whatever Pillow raised, is reported as :class:`ImageLoadError` with a short reason.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.base.errors import ImageLoadError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})

WHITE = (255, 255, 255)
_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_SUPPORTED_MODES = frozenset({"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr"}) | _ALPHA_MODES | _HIGH_DEPTH_MODES
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {  # EXIF orientation -> transposition, as in ImageOps.exif_transpose
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_MAGIC = {  # leading bytes -> format name, to tell "corrupt header" from "not an image"
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}

T = TypeVar("T")


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`probe_image` found; width/height are as :func:`load_rgb` returns the image."""

    width: int
    height: int
    mode: str  # the file's own PIL mode, e.g. "L", "P", "I;16", "CMYK"
    format: str | None  # PIL format name, e.g. "JPEG"
    content_hash: str = field(default="", compare=False)  # of the file's bytes: exact duplicates
    dhash: int = field(default=0, compare=False)  # 64-bit difference hash of the picture: near duplicates
    thumb: bytes = field(default=b"", compare=False, repr=False)  # 16x16 grey thumbnail, to confirm them

    @property
    def bit_depth(self) -> int:
        """Bits per channel of the file."""
        return 16 if self.mode.startswith("I;16") else 32 if self.mode in ("I", "F") else 1 if self.mode == "1" else 8


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode ``path`` fully into an 8-bit "RGB" image, upright per its EXIF orientation.

    Multi-frame files give their first frame. Transparency is composited on white.
    16-bit and 32-bit integer images are scaled by 255/65535, so the full 16-bit range maps to
    0..255 (32-bit values above 65535 saturate). Float ("F") images are clipped to [0, 1] when
    their maximum is <= 1, otherwise scaled like 16-bit. Raises :class:`ImageLoadError`.
    """
    return _with_image(path, _decode_rgb)


def probe_image(path: str | os.PathLike) -> ImageInfo:
    """Check that ``path`` decodes completely (truncation included) and describe it.

    JPEGs are decoded at reduced scale (``Image.draft``), which still reads every byte of
    compressed data, so truncation is still detected. Also hashes the bytes and the picture (for
    duplicate checks). Raises :class:`ImageLoadError`.
    """
    return _with_image(path, _probe, read_bytes=True)


def _decode_rgb(im: Image.Image) -> Image.Image:
    im.load()
    orientation = _orientation(im)
    rgb = _to_rgb(im)
    if orientation in _TRANSPOSE:
        rgb = rgb.transpose(_TRANSPOSE[orientation])
    return rgb


def _check_mode(im: Image.Image) -> None:
    if im.mode not in _SUPPORTED_MODES:
        raise ImageLoadError(f"unsupported colour mode '{im.mode}' (TransferLab reads greyscale, RGB, RGBA, "
                             "palette, CMYK and YCbCr images, 8 to 32 bits)")


def _probe(im: Image.Image, content_hash: str = "") -> ImageInfo:
    mode, fmt, (width, height) = im.mode, im.format, im.size
    _check_mode(im)
    if fmt in ("JPEG", "MPO"):
        im.draft(None, (64, 64))  # decode at up to 1/8 scale (>= 64 px for the hashes): still reads all data
    im.load()
    if _orientation(im) in (5, 6, 7, 8):
        width, height = height, width
    gray = _gray(im)
    return ImageInfo(width, height, mode, fmt, content_hash, difference_hash(gray),
                     gray.resize((16, 16), Image.Resampling.BILINEAR).tobytes())


def _gray(im: Image.Image) -> Image.Image:
    return _high_depth_to_gray(im) if im.mode in _HIGH_DEPTH_MODES else im.convert("L")


def difference_hash(im: Image.Image) -> int:
    """64-bit dHash: whether brightness rises between neighbours of a 9x8 thumbnail. Re-encoding,
    resizing or small edits change few bits; different pictures differ in about half of them."""
    px = np.asarray(_gray(im).resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (px[:, 1:] > px[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def _to_rgb(im: Image.Image) -> Image.Image:
    _check_mode(im)
    if im.mode in _HIGH_DEPTH_MODES:
        return _high_depth_to_gray(im).convert("RGB")
    if im.mode in _ALPHA_MODES or "transparency" in im.info or _palette_has_alpha(im):
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, WHITE)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    if im.mode == "RGB":
        return im
    try:
        return im.convert("RGB")
    except ValueError as e:
        raise ImageLoadError(f"unsupported colour mode '{im.mode}'") from e


def _palette_has_alpha(im: Image.Image) -> bool:
    return im.mode == "P" and im.palette is not None and im.palette.mode.endswith("A")


def _high_depth_to_gray(im: Image.Image) -> Image.Image:
    """16/32-bit integer or float single-channel image -> 8-bit "L" (see load_rgb)."""
    values = np.asarray(im).astype(np.float32)
    if im.mode == "F":
        values = np.nan_to_num(values, nan=0.0)
        if values.size and float(values.max()) <= 1.0:
            values = values * 255.0
        else:
            values = values * (255.0 / 65535.0)
    else:
        values = values * (255.0 / 65535.0)
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1..8); 1 when absent or unreadable (broken EXIF is not fatal)."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
        return int(value) if value in _TRANSPOSE else 1
    except Exception:  # noqa: BLE001 - corrupt EXIF must not reject an otherwise good image
        return 1


def _with_image(path: str | os.PathLike, work: Callable[..., T], read_bytes: bool = False) -> T:
    """Open ``path`` read-only, run ``work`` on it and turn every failure into ImageLoadError.

    ``read_bytes``: read the whole file first and pass ``work`` its content hash as well."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as e:
        raise ImageLoadError(_os_reason(e)) from e
    if stat.S_ISDIR(info.st_mode):
        raise ImageLoadError("cannot read file: it is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise ImageLoadError("cannot read file: not a regular file")
    if info.st_size == 0:
        raise ImageLoadError("empty file (0 bytes)")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(0)
            extra = ()
            source = f
            if read_bytes:
                data = f.read()
                extra = (hashlib.blake2b(data, digest_size=16).hexdigest(),)
                source = io.BytesIO(data)
            try:
                im = Image.open(source)
            except UnidentifiedImageError as e:
                raise ImageLoadError(_unidentified_reason(head)) from e
            with im:
                _check_pixel_limit(im.size)
                return work(im, *extra)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageLoadError(_too_large(_size_in(e))) from e
    except MemoryError as e:
        raise ImageLoadError("not enough memory to decode this image") from e
    except OSError as e:
        if e.errno is not None:
            raise ImageLoadError(_os_reason(e)) from e
        raise ImageLoadError(f"truncated or corrupt image: {_detail(e)}") from e
    except Exception as e:  # noqa: BLE001 - Pillow plugins raise many types on bad data
        raise ImageLoadError(f"truncated or corrupt image: {_detail(e)}") from e


DEFAULT_PIXEL_LIMIT = Image.MAX_IMAGE_PIXELS  # Pillow's guard against "decompression bombs" (about 89 MP)
LARGE_IMAGES_HINT = 'tick "Allow very large images" on the Your images page (or --allow-large-images)'


def allow_large_images(allow: bool) -> None:
    """Lift the pixel limit (for real scans and aerial photos of hundreds of megapixels), or restore it."""
    Image.MAX_IMAGE_PIXELS = None if allow else DEFAULT_PIXEL_LIMIT


def _too_large(pixels: int | None) -> str:
    limit = Image.MAX_IMAGE_PIXELS or DEFAULT_PIXEL_LIMIT
    size = f"{pixels / 1e6:.0f} megapixels, " if pixels else ""
    return (f"very large image ({size}over the {limit / 1e6:.0f} MP safety limit): resize it, or "
            f"{LARGE_IMAGES_HINT}")


def _size_in(error: Exception) -> int | None:
    """The pixel count Pillow names in its decompression-bomb message ("Image size (N pixels) exceeds…")."""
    import re
    found = re.search(r"\((\d+) pixels\)", str(error))
    return int(found[1]) if found else None


def _check_pixel_limit(size: tuple[int, int]) -> None:
    """Treat Pillow's decompression-bomb *warning* threshold as an error."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and size[0] * size[1] > limit:
        raise ImageLoadError(_too_large(size[0] * size[1]))


def _unidentified_reason(head: bytes) -> str:
    for magic, fmt in _MAGIC.items():
        if head.startswith(magic):
            if fmt == "TIFF":  # a valid TIFF can still be a variant Pillow does not read
                return ("unsupported or corrupt TIFF file (e.g. floating-point colour or more than 4 channels "
                        "cannot be read)")
            return f"truncated or corrupt {fmt} file (header unreadable)"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "truncated or corrupt WEBP file (header unreadable)"
    return "not an image file (format not recognised)"


def _os_reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "cannot read file: permission denied"
    if isinstance(e, FileNotFoundError):
        return "cannot read file: file not found"
    if isinstance(e, IsADirectoryError):
        return "cannot read file: it is a folder"
    return f"cannot read file: {e.strerror or e}"


def _detail(e: Exception) -> str:
    text = str(e).strip()
    return text or type(e).__name__
