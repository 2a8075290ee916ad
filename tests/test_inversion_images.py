"""ganmetric.inversion.images: reading, cutting to a box, cropping, resizing and validating targets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganmetric.errors import InputError
from ganmetric.inversion import load_image
from ganmetric.inversion.images import as_target
from ganmetric.plotting import image_bytes


def _stripes(path, mode="RGB"):
    """30 x 10 image: black | white | black thirds (so a centre crop is all white)."""
    arr = np.zeros((10, 30, 3), dtype=np.uint8)
    arr[:, 10:20] = 255
    im = Image.fromarray(arr)
    if mode != "RGB":
        im = im.convert(mode)
    im.save(path)
    return path


def test_center_crop_resize_and_range(tmp_path):
    path = _stripes(tmp_path / "s.png", mode="RGBA")
    x = load_image(path, size=4)
    assert x.shape == (3, 4, 4) and x.dtype == torch.float32
    assert torch.allclose(x, torch.ones_like(x))  # only the white centre survives the crop
    stretched = load_image(path, size=4, crop="none")
    # black sides kept when stretched
    assert stretched[:, :, 0].max() == pytest.approx(-1, abs=1e-6) and stretched[:, :, 1:3].min() > 0
    wide = load_image(path, size=(2, 6), crop="center")  # aspect 3 = the image's: nothing cropped
    assert wide.shape == (3, 2, 6) and wide[:, :, 0].max() < -0.9 and wide[:, :, 3].min() > 0.5


def test_grey_jpeg_and_png_round_trip(tmp_path):
    path = _stripes(tmp_path / "s.jpg")
    g = load_image(path, size=5, channels=1, resample="nearest")
    assert g.shape == (1, 5, 5) and g.min() > 0.9  # JPEG is lossy; white stays near 1
    x = torch.linspace(-1, 1, 48).reshape(3, 4, 4)
    (tmp_path / "x.png").write_bytes(image_bytes(x))
    back = load_image(tmp_path / "x.png", size=4)
    assert torch.allclose(back, x, atol=1 / 127.5 + 1e-6)


@pytest.mark.parametrize("content, match", [
    (None, "image file not found"),
    (b"not an image at all", "cannot read image .*PNG or JPEG"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "cannot read image"),  # truncated PNG
])
def test_unreadable_files(tmp_path, content, match):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        load_image(path, size=4)


def test_bad_options(tmp_path):
    path = _stripes(tmp_path / "s.png")
    with pytest.raises(InputError, match="crop 'left' is not one of"):
        load_image(path, size=4, crop="left")
    with pytest.raises(InputError, match="1- or 3-channel"):
        load_image(path, size=4, channels=4)
    with pytest.raises(InputError, match="1- or 3-channel"):
        as_target(path, (4, 8, 8))
    with pytest.raises(InputError, match=r"size must be at least 1, got 0"):
        load_image(path, size=(4, 0))


def test_as_target_accepts_batched_and_numpy():
    x = torch.zeros(1, 3, 4, 4)
    assert as_target(x, (3, 4, 4)).shape == (3, 4, 4)
    assert as_target(np.zeros((3, 4, 4), dtype=np.float32), (3, 4, 4)).shape == (3, 4, 4)
    with pytest.raises(InputError, match=r"to match G's images, got \(3, 5, 4\)"):
        as_target(torch.zeros(3, 5, 4), (3, 4, 4), name="G")


def test_box_cuts_the_source_image_first(tmp_path):
    """Issue 9: a face-tight box of a photo, in pixels of the source image, before the crop and resize."""
    path = _stripes(tmp_path / "s.png")  # columns 0-9 black, 10-19 white, 20-29 black
    white = load_image(path, size=(2, 4), box=(10, 0, 20, 10), crop="none", resample="nearest")
    assert torch.allclose(white, torch.ones_like(white))
    # a 20 x 10 box: black 5 | white 10 | black 5; stretched to 4 columns by nearest: black, white, white, black
    x = load_image(path, size=(2, 4), box=(5, 0, 25, 10), crop="none", resample="nearest")
    assert torch.allclose(x[:, :, [0, 3]], -torch.ones(3, 2, 2)) and torch.allclose(x[:, :, 1:3], torch.ones(3, 2, 2))
    # the centre crop to the model's aspect ratio applies to the box: its middle 10 x 10 is all white
    sq = load_image(path, size=4, box=(5, 0, 25, 10))
    assert torch.allclose(sq, torch.ones_like(sq))
    assert torch.equal(load_image(path, size=4, box=(0, 0, 30, 10)), load_image(path, size=4))  # the whole image
    assert torch.equal(load_image(path, size=4, box=np.array([5, 0, 25, 10])), sq)  # numpy integers are fine


@pytest.mark.parametrize("box, match", [
    ((0, 0, 31, 10), r"box 0, 0, 31, 10 does not fit in s.png, which is 30 x 10 pixels"),
    ((0, 0, 30, 11), "need x1 <= 30 and y1 <= 10"),
    ((5, 0, 5, 10), "0 <= x0 < x1 and 0 <= y0 < y1, got 5, 0, 5, 10"),
    ((0, 6, 10, 2), "0 <= x0 < x1 and 0 <= y0 < y1"),
    ((-1, 0, 10, 10), "0 <= x0 < x1"),
    ((0, 0, 10), "box must be 4 integers x0, y0, x1, y1 .*got 0, 0, 10"),
    ((0, 0, 10.5, 10), "box must be 4 integers"),
    ("0,0,10,10", "box must be 4 integers .*got 0,0,10,10$"),
    (3, "box must be 4 integers .*got 3"),
])
def test_bad_boxes(tmp_path, box, match):
    path = _stripes(tmp_path / "s.png")
    with pytest.raises(InputError, match=match):
        load_image(path, size=4, box=box)


def test_box_needs_an_image_file():
    with pytest.raises(InputError, match="box applies to an image file target"):
        as_target(torch.zeros(3, 4, 4), (3, 4, 4), box=(0, 0, 2, 2))


def _png_bomb(path, side: int = 20000):
    """A valid all-black grey PNG of side x side pixels, written row by row: about 0.4 MB on disk for
    side**2 = 400 million pixels (what a decompression bomb looks like)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"\0" * (side + 1) * 500  # filter byte 0 and a black row, 500 at a time
    # raw deflate, flushed in full after each 500 rows: every such block compresses to the same bytes, so one is
    # compressed and repeated (compressing all 400 MB took a second); the zlib wrapper is written around them
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(rows) + packer.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(side // 500):
        checksum = zlib.adler32(rows, checksum)
    data = b"\x78\xda" + block * (side // 500) + packer.flush() + struct.pack(">I", checksum)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return _png_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png")


def test_a_decompression_bomb_is_refused_from_its_header(bomb):
    assert bomb.stat().st_size < 2_000_000
    from PIL import Image as PILImage
    with pytest.raises(PILImage.DecompressionBombError):  # what surfaced before (a traceback in invert)
        PILImage.open(bomb)
    with pytest.raises(InputError, match=r"^bomb.png is 20000 x 20000 pixels \(400 megapixels\), more than the limit "
                                         r"of 50 megapixels; raise it with max_pixels if you mean it$") as info:
        load_image(bomb, size=8)
    assert info.value.argument == "path" and info.value.mentions == ("max_pixels",)
    assert info.value.worded({"max_pixels": "--max-pixels"}).endswith("raise it with --max-pixels if you mean it")


def test_the_pixel_limit_is_ours_alone(tmp_path, monkeypatch):
    """Our limit decides, both ways: below it Pillow's own bomb check (warning or error) never surfaces."""
    import warnings
    from PIL import Image as PILImage
    Image.fromarray(np.full((100, 120, 3), 200, np.uint8)).save(tmp_path / "p.png")
    with pytest.raises(InputError, match=r"p.png is 120 x 100 pixels \(0.012 megapixels\), more than the limit of "
                                         r"0.01 megapixels"):
        load_image(tmp_path / "p.png", size=8, max_pixels=10_000)
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)  # Pillow would raise for 12000 > 2 * 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = load_image(tmp_path / "p.png", size=8, max_pixels=12_000)
    assert float(x.mean()) == pytest.approx(200 / 127.5 - 1, abs=1e-6)
    assert PILImage.MAX_IMAGE_PIXELS == 1000  # Pillow's setting restored
    with pytest.raises(InputError, match="max_pixels must be at least 1"):
        load_image(tmp_path / "p.png", size=8, max_pixels=0)


def test_cli_invert_refuses_a_bomb_in_one_line(bomb, tmp_path):
    from click.testing import CliRunner
    from ganmetric_cli.main import main
    from helpers import one_error_line
    res = CliRunner().invoke(main, ["invert", "--model", "stylegan2-demo", "--distance", "mse", "--image", str(bomb),
                                    "--steps", "1", "--restarts", "1", "--out", str(tmp_path / "inv"), "-q"])
    one_error_line(res, "bomb.png is 20000 x 20000 pixels (400 megapixels), more than the limit of 50 megapixels; "
                        "raise it with --max-pixels if you mean it")
    assert not (tmp_path / "inv").exists()
