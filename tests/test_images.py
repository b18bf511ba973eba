"""core.data.images: every supported format and colour mode becomes 8-bit RGB; bad files give ImageLoadError."""

import io
import os

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile

from core.base.errors import ImageLoadError
from core.data.images import IMAGE_EXTENSIONS, ImageInfo, load_rgb, probe_image
from tests.datagen import make_image

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def close(pixel, expected, tol=12):
    return all(abs(a - b) <= tol for a, b in zip(pixel, expected))


def save(im: Image.Image, path, **kw):
    im.save(path, **kw)
    return path


@pytest.mark.parametrize("ext", sorted(IMAGE_EXTENSIONS))
def test_every_supported_extension_loads_as_rgb(tmp_path, ext):
    src = Image.new("RGB", (40, 30), RED)
    src.paste(Image.new("RGB", (20, 30), BLUE), (20, 0))
    path = save(src, tmp_path / f"a{ext}")
    im = load_rgb(path)
    assert im.mode == "RGB" and im.size == (40, 30)
    assert close(im.getpixel((5, 15)), RED, 40) and close(im.getpixel((35, 15)), BLUE, 40)
    info = probe_image(path)
    assert (info.width, info.height) == (40, 30) and info.format


def test_generated_images_round_trip_through_jpeg(tmp_path):
    path = save(make_image(0, 48), tmp_path / "x.jpg", quality=95)
    arr = np.asarray(load_rgb(path), dtype=int)
    assert np.abs(arr - np.asarray(make_image(0, 48), dtype=int)).mean() < 8


def test_extension_set_is_lowercase_suffixes():
    assert IMAGE_EXTENSIONS == {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


@pytest.mark.parametrize("mode", ["L", "1"])
def test_grayscale_becomes_grey_rgb(tmp_path, mode):
    src = Image.new("L", (8, 8), 0)
    src.paste(255, (4, 0, 8, 8))
    path = save(src.convert(mode), tmp_path / "g.png")
    im = load_rgb(path)
    assert im.mode == "RGB" and im.getpixel((0, 0)) == (0, 0, 0) and im.getpixel((7, 0)) == WHITE
    assert probe_image(path).mode == mode


def test_16bit_grayscale_png_is_scaled_by_255_over_65535(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / "g16.png")
    assert probe_image(path).mode.startswith("I")
    im = load_rgb(path)
    assert im.mode == "RGB"
    assert [im.getpixel((x, 0))[0] for x in range(4)] == [0, 1, 128, 255]
    assert im.getpixel((2, 0)) == (128, 128, 128)


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_16bit_grayscale_tiff(tmp_path, byteorder):
    values = np.array([[0, 1000, 65535]], dtype=np.uint16)
    tifffile.imwrite(tmp_path / "g16.tif", values, byteorder=byteorder)
    im = load_rgb(tmp_path / "g16.tif")
    assert [im.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (4, 4, 4), WHITE]


def test_16bit_rgb_tiff_becomes_8bit_rgb(tmp_path):
    values = np.zeros((2, 3, 3), dtype=np.uint16)
    values[0, 0] = (65535, 0, 0)
    values[0, 1] = (0, 32768, 65535)
    values[1, 2] = (1000, 20000, 50000)
    tifffile.imwrite(tmp_path / "rgb16.tif", values, photometric="rgb")
    im = load_rgb(tmp_path / "rgb16.tif")
    assert im.mode == "RGB" and im.size == (3, 2)
    for (y, x) in [(0, 0), (0, 1), (1, 2)]:
        expected = tuple(int(v) * 255 / 65535 for v in values[y, x])
        assert close(im.getpixel((x, y)), expected, tol=1)


def test_32bit_integer_and_float_tiffs(tmp_path):
    tifffile.imwrite(tmp_path / "i32.tif", np.array([[0, 65535, 10**6, -5]], dtype=np.int32))
    im = load_rgb(tmp_path / "i32.tif")
    assert [im.getpixel((x, 0))[0] for x in range(4)] == [0, 255, 255, 0]
    tifffile.imwrite(tmp_path / "unit.tif", np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32))
    im = load_rgb(tmp_path / "unit.tif")
    assert [im.getpixel((x, 0))[0] for x in range(4)] == [0, 128, 255, 0]
    tifffile.imwrite(tmp_path / "wide.tif", np.array([[0.0, 65535.0, 32768.0]], dtype=np.float32))
    im = load_rgb(tmp_path / "wide.tif")
    assert [im.getpixel((x, 0))[0] for x in range(3)] == [0, 255, 128]


def test_exif_orientation_is_applied(tmp_path):
    src = Image.new("RGB", (40, 20), BLUE)
    src.paste(Image.new("RGB", (20, 20), RED), (0, 0))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = save(src, tmp_path / "rot.jpg", exif=exif, quality=95)
    im = load_rgb(path)
    assert im.size == (20, 40)
    assert close(im.getpixel((10, 5)), RED, 40) and close(im.getpixel((10, 35)), BLUE, 40)  # left -> top
    info = probe_image(path)
    assert (info.width, info.height) == (20, 40)


def test_rgba_is_composited_on_white(tmp_path):
    src = Image.new("RGBA", (3, 1), (0, 0, 0, 0))
    src.putpixel((1, 0), (255, 0, 0, 255))
    src.putpixel((2, 0), (0, 0, 0, 128))
    im = load_rgb(save(src, tmp_path / "a.png"))
    assert im.mode == "RGB"
    assert im.getpixel((0, 0)) == WHITE and im.getpixel((1, 0)) == RED
    assert close(im.getpixel((2, 0)), (127, 127, 127), 2)


def test_gray_alpha_is_composited_on_white(tmp_path):
    src = Image.new("LA", (2, 1), (0, 0))
    src.putpixel((1, 0), (0, 255))
    im = load_rgb(save(src, tmp_path / "la.png"))
    assert im.getpixel((0, 0)) == WHITE and im.getpixel((1, 0)) == (0, 0, 0)


@pytest.mark.parametrize("ext", [".png", ".gif"])
def test_palette_with_transparency(tmp_path, ext):
    src = Image.new("P", (2, 1), 0)
    src.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    src.putpixel((1, 0), 1)
    path = save(src, tmp_path / f"p{ext}", transparency=0)
    assert probe_image(path).mode == "P"
    im = load_rgb(path)
    assert im.mode == "RGB" and im.getpixel((0, 0)) == WHITE and im.getpixel((1, 0)) == RED


def test_palette_without_transparency(tmp_path):
    src = Image.new("RGB", (4, 4), BLUE).convert("P")
    assert load_rgb(save(src, tmp_path / "p.png")).getpixel((0, 0)) == BLUE


def test_cmyk_jpeg(tmp_path):
    path = save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95)
    assert probe_image(path).mode == "CMYK"
    im = load_rgb(path)
    assert im.mode == "RGB" and close(im.getpixel((8, 8)), RED, 10)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 10), RED), Image.new("RGB", (10, 10), BLUE)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 2
    im = load_rgb(path)
    assert im.mode == "RGB" and im.getpixel((5, 5)) == RED


def test_returned_image_is_independent_of_the_file(tmp_path):
    path = save(Image.new("RGB", (6, 6), RED), tmp_path / "a.png")
    im = load_rgb(path)
    os.remove(path)
    assert im.getpixel((3, 3)) == RED and im.resize((3, 3)).size == (3, 3)


# -- bad files -------------------------------------------------------------------------------------

def reason(path) -> str:
    with pytest.raises(ImageLoadError) as e:
        load_rgb(path)
    with pytest.raises(ImageLoadError) as e2:
        probe_image(path)
    assert str(e.value) == str(e2.value)
    return str(e.value)


def truncated(tmp_path, fmt: str, ext: str):
    rng = np.random.default_rng(0)
    src = Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    buf = io.BytesIO()
    src.save(buf, fmt)
    data = buf.getvalue()
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncation_is_never_tolerated_globally():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert reason(tmp_path / "empty.jpg") == "empty file (0 bytes)"


def test_text_file_renamed(tmp_path):
    (tmp_path / "notes.png").write_text("hello, I am not a picture\n")
    assert reason(tmp_path / "notes.png") == "not an image file (format not recognised)"


@pytest.mark.parametrize("head, fmt", [(b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF89a", "GIF")])
def test_tiny_file_with_only_a_header(tmp_path, head, fmt):
    (tmp_path / "tiny").write_bytes(head)
    assert reason(tmp_path / "tiny") == f"truncated or corrupt {fmt} file (header unreadable)"


@pytest.mark.parametrize("fmt, ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("BMP", ".bmp"),
                                      ("TIFF", ".tif"), ("GIF", ".gif")])
def test_truncated_files_are_detected(tmp_path, fmt, ext):
    assert reason(truncated(tmp_path, fmt, ext)).startswith("truncated or corrupt image: ")


def test_jpeg_probe_at_reduced_scale_still_detects_a_missing_end(tmp_path):
    rng = np.random.default_rng(1)
    src = Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    path = save(src, tmp_path / "big.jpg")
    assert probe_image(path) == ImageInfo(640, 480, "RGB", "JPEG")  # full size, though decoded at 1/8
    data = path.read_bytes()
    for cut in (2, 50):  # only the end-of-image marker / the last few bytes of scan data missing
        path.write_bytes(data[:-cut])
        with pytest.raises(ImageLoadError, match="truncated"):
            probe_image(path)


def test_missing_file_and_folder(tmp_path):
    assert reason(tmp_path / "nope.png") == "cannot read file: file not found"
    assert reason(tmp_path) == "cannot read file: it is a folder"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_file(tmp_path):
    path = save(Image.new("RGB", (4, 4)), tmp_path / "locked.png")
    path.chmod(0)
    try:
        assert reason(path) == "cannot read file: permission denied"
    finally:
        path.chmod(0o644)


def test_decompression_bomb_limits_are_errors(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (12, 12)), tmp_path / "bomb.png")  # 144 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 144 > limit: Pillow only warns
    with pytest.warns(Image.DecompressionBombWarning):
        hint = '"Allow very large images" on the Your images page'  # the checkbox and the page, as the user sees them
        assert reason(path).startswith("very large image") and hint in reason(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # 144 > 2 * limit: Pillow raises
    assert reason(path).startswith("very large image") and "resize it" in reason(path)


def test_very_large_images_can_be_allowed_and_the_limit_comes_back(tmp_path):
    from core.data.images import DEFAULT_PIXEL_LIMIT, allow_large_images
    path = save(Image.new("RGB", (12, 12)), tmp_path / "big.png")
    try:
        allow_large_images(True)
        assert Image.MAX_IMAGE_PIXELS is None and load_rgb(path).size == (12, 12)
    finally:
        allow_large_images(False)
    assert Image.MAX_IMAGE_PIXELS == DEFAULT_PIXEL_LIMIT
