"""Inversion targets: image files read with Pillow, tensors validated, images written as PNG bytes."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..errors import InputError

#: Resampling filters accepted by :func:`load_image` (Pillow names).
RESAMPLE = ("bicubic", "bilinear", "lanczos", "nearest")
#: How :func:`load_image` fits a photograph's aspect ratio to the generator's.
CROPS = ("center", "none")
#: Values this far outside [-1, 1] are refused (allows float rounding of a [0, 1] -> [-1, 1] map).
RANGE_TOL = 1e-4


def load_image(path, *, size, channels: int = 3, crop: str = "center", resample: str = "bicubic") -> torch.Tensor:
    """Read a PNG/JPEG (anything Pillow reads) as a (C, H, W) float32 tensor in [-1, 1].

    The image is converted to RGB (``channels=3``) or grey (``channels=1``), centre-cropped
    to the aspect ratio of ``size`` (``crop="center"``; ``"none"`` stretches instead), resized
    with ``resample`` and mapped from [0, 255] to [-1, 1].

    Args:
        path: image file.
        size: output side (int) or (H, W).
        channels: 3 (RGB) or 1 (grey).
        crop: one of :data:`CROPS`.
        resample: one of :data:`RESAMPLE`.

    Returns:
        Tensor of shape (channels, H, W).

    Raises:
        InputError: missing or unreadable file, bad size, channels, crop or resample.
    """
    from PIL import Image, UnidentifiedImageError

    checks.one_of("crop", crop, CROPS)
    checks.one_of("resample filter", resample, RESAMPLE)
    if channels not in (1, 3):
        raise InputError(f"image files can be inverted only for 1- or 3-channel generators, got {channels} channels")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    checks.positive_int("image height", int(h))
    checks.positive_int("image width", int(w))
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            im = im.convert("RGB" if channels == 3 else "L")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"cannot read image {path}: expected a PNG or JPEG file Pillow can read ({exc})") from exc
    if crop == "center":
        im = im.crop(_center_box(im.width, im.height, w / h))
    im = im.resize((w, h), getattr(Image.Resampling, resample.upper()))
    arr = np.asarray(im, dtype=np.float32) / 127.5 - 1.0
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))


def _center_box(width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
    """The largest centred box of aspect ratio ``aspect`` (= width / height) inside the image."""
    if width / height > aspect:
        new_w = max(1, round(height * aspect))
        left = (width - new_w) // 2
        return left, 0, left + new_w, height
    new_h = max(1, round(width / aspect))
    top = (height - new_h) // 2
    return 0, top, width, top + new_h


def as_target(target, shape: tuple[int, int, int], *, crop: str = "center", resample: str = "bicubic",
              name: str = "generator") -> torch.Tensor:
    """Validate an inversion target against the generator's image shape; return (C, H, W).

    Args:
        target: a (C, H, W) or (1, C, H, W) tensor/array in [-1, 1], or an image path.
        shape: the generator's image shape (C, H, W).
        crop, resample: for image files, see :func:`load_image`.
        name: the generator's name, for messages.

    Raises:
        InputError: wrong type, shape, non-finite values, values outside [-1, 1], bad file.
    """
    if isinstance(target, (str, Path)):
        return load_image(target, size=shape[1:], channels=shape[0], crop=crop, resample=resample)
    if isinstance(target, np.ndarray):
        target = torch.from_numpy(target)
    if not isinstance(target, torch.Tensor):
        raise InputError(f"target must be an image path or a (C, H, W) tensor in [-1, 1], got {type(target).__name__}")
    if not target.is_floating_point():
        raise InputError(f"target must be a floating-point tensor in [-1, 1], got dtype {target.dtype}")
    t = target.detach()
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if tuple(t.shape) != tuple(shape):
        raise InputError(f"target must have shape {tuple(shape)} or (1, {', '.join(map(str, shape))}) to match "
                         f"{name}'s images, got {tuple(target.shape)}")
    if not torch.isfinite(t).all():
        raise InputError("target contains NaN or inf values")
    lo, hi = float(t.min()), float(t.max())
    if lo < -1 - RANGE_TOL or hi > 1 + RANGE_TOL:
        raise InputError(f"target values must lie in [-1, 1] (map [0, 1] images by 2x - 1), got [{lo:.4g}, {hi:.4g}]")
    return t


def image_to_png_bytes(image: torch.Tensor) -> bytes:
    """PNG bytes of a (C, H, W) image in [-1, 1] (C = 1 or 3), for atomic writes."""
    from PIL import Image

    arr = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    if arr.shape[0] not in (1, 3):
        raise InputError(f"only 1- or 3-channel images can be written as PNG, got {arr.shape[0]} channels")
    im = Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
