"""ganmetric.inversion.images: reading, cropping, resizing and validating targets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganmetric.errors import InputError
from ganmetric.inversion import image_to_png_bytes, load_image
from ganmetric.inversion.images import as_target


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
    assert stretched[:, :, 0].max() == pytest.approx(-1, abs=1e-6) and stretched[:, :, 1:3].min() > 0  # black sides kept when stretched
    wide = load_image(path, size=(2, 6), crop="center")  # aspect 3 = the image's: nothing cropped
    assert wide.shape == (3, 2, 6) and wide[:, :, 0].max() < -0.9 and wide[:, :, 3].min() > 0.5


def test_grey_jpeg_and_png_round_trip(tmp_path):
    path = _stripes(tmp_path / "s.jpg")
    g = load_image(path, size=5, channels=1, resample="nearest")
    assert g.shape == (1, 5, 5) and g.min() > 0.9  # JPEG is lossy; white stays near 1
    x = torch.linspace(-1, 1, 48).reshape(3, 4, 4)
    (tmp_path / "x.png").write_bytes(image_to_png_bytes(x))
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
    with pytest.raises(InputError, match="Invalid crop"):
        load_image(path, size=4, crop="left")
    with pytest.raises(InputError, match="1- or 3-channel"):
        load_image(path, size=4, channels=4)
    with pytest.raises(InputError, match="1- or 3-channel"):
        as_target(path, (4, 8, 8))
    with pytest.raises(InputError, match="image width must be at least 1"):
        load_image(path, size=(4, 0))


def test_as_target_accepts_batched_and_numpy():
    x = torch.zeros(1, 3, 4, 4)
    assert as_target(x, (3, 4, 4)).shape == (3, 4, 4)
    assert as_target(np.zeros((3, 4, 4), dtype=np.float32), (3, 4, 4)).shape == (3, 4, 4)
    with pytest.raises(InputError, match=r"to match G's images, got \(3, 5, 4\)"):
        as_target(torch.zeros(3, 5, 4), (3, 4, 4), name="G")
