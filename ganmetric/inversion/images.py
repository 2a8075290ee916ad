"""Inversion targets: image files read with Pillow (optionally cut to a box), tensors validated."""
from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..errors import InputError

RESAMPLE = ("bicubic", "bilinear", "lanczos", "nearest")
"""Resampling filters accepted by :func:`load_image` (Pillow names)."""
CROPS = ("center", "none")
"""How :func:`load_image` fits a photograph's aspect ratio to the generator's."""
#: Values this far outside [-1, 1] are refused (allows float rounding of a [0, 1] -> [-1, 1] map).
RANGE_TOL = 1e-4
DEFAULT_MAX_PIXELS = 50_000_000
"""Image files larger than this many pixels are refused from their header, before decoding: 50 megapixels hold any
camera's photo up to 8660 x 5773 and decode to 150 MB of RGB (a few copies of it while converting); a 20000 x
20000 PNG of 1.2 MB would decode to 1.2 GB. Raise it with ``max_pixels`` (``--max-pixels``)."""
#: held while Pillow's own, process-wide, decompression-bomb limit is off (see :func:`_our_pixel_limit`)
_PIL_LIMIT = threading.Lock()


def load_image(path, *, size, channels: int = 3, box=None, crop: str = "center",
               resample: str = "bicubic", max_pixels: int = DEFAULT_MAX_PIXELS, argument: str = "path") -> torch.Tensor:
    """Read a PNG/JPEG (anything Pillow reads) as a (C, H, W) float32 tensor in [-1, 1].

    The image is converted to RGB (``channels=3``) or grey (``channels=1``), cut to ``box``
    if given, centre-cropped to the aspect ratio of ``size`` (``crop="center"``; ``"none"``
    stretches instead), resized with ``resample`` and mapped from [0, 255] to [-1, 1].

    Args:
        path: image file.
        size: output side (int) or (H, W).
        channels: 3 (RGB) or 1 (grey).
        box: (x0, y0, x1, y1) in pixels of the source image (x0, y0 included, x1, y1 excluded,
            as in Pillow's ``crop``), e.g. a tight box around a face; None: the whole image.
        crop: one of :data:`CROPS`.
        resample: one of :data:`RESAMPLE`.
        max_pixels: refuse files of more pixels than this (width x height, read from the
            header before anything is decoded; default :data:`DEFAULT_MAX_PIXELS`).
        argument: the argument that named the file (the error's ``argument``).

    Returns:
        Tensor of shape (channels, H, W).

    Raises:
        InputError: missing or unreadable file, an image over ``max_pixels``, a box that is
            not 4 ordered integers inside the image, bad size, channels, crop or resample.
    """
    checks.one_of("crop", crop, CROPS)
    checks.one_of("resample", resample, RESAMPLE)
    if channels not in (1, 3):
        raise InputError(f"image files can be inverted only for 1- or 3-channel generators, got {channels} channels",
                         argument="channels")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    checks.positive_int("size", int(h))
    checks.positive_int("size", int(w))
    box = None if box is None else _check_box(box)
    max_pixels = checks.positive_int("max_pixels", max_pixels)
    from PIL import Image
    with _our_pixel_limit():
        im = _read(Path(path), "RGB" if channels == 3 else "L", max_pixels, argument)
        if box is not None:
            im = im.crop(_inside(box, im.width, im.height, Path(path).name))
        if crop == "center":
            im = im.crop(_center_box(im.width, im.height, w / h))
        im = im.resize((w, h), getattr(Image.Resampling, resample.upper()))
    arr = np.asarray(im, dtype=np.float32) / 127.5 - 1.0
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))


@contextlib.contextmanager
def _our_pixel_limit():
    """Pillow's decompression-bomb check (a warning, then an error, at its own limits, on open and
    on crop) switched off while ``max_pixels`` is the check: Pillow's never surfaces, and a user's
    ``max_pixels`` above Pillow's limit is honoured. Pillow's setting is process-wide: a lock keeps
    other threads from reading images meanwhile."""
    from PIL import Image
    with _PIL_LIMIT:
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _read(path: Path, mode: str, max_pixels: int, argument: str):
    """The image file as a PIL image in ``mode``, if its header says it has at most ``max_pixels``
    (call it inside :func:`_our_pixel_limit`; ``argument``: the argument that named the file).

    Raises:
        InputError: missing, unreadable, or over ``max_pixels``.
    """
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise InputError(f"image file not found: {path}", argument=argument)
    try:
        with Image.open(path) as im:  # reads the header only
            width, height = im.size
            if width * height > max_pixels:
                raise InputError(f"{path.name} is {width} x {height} pixels ({width * height / 1e6:.3g} megapixels), "
                                 f"more than the limit of {max_pixels / 1e6:g} megapixels; raise it with "
                                 f"{{max_pixels}} if you mean it", argument=argument, mentions=("max_pixels",))
            im.load()
            return im.convert(mode)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read image {path}: expected a PNG or JPEG file Pillow can read ({exc})",
                         argument=argument) from exc


def _check_box(box) -> tuple[int, int, int, int]:
    """``box`` as four integers with x0 < x1, y0 < y1, all >= 0.

    Raises:
        InputError: anything else.
    """
    try:
        vals = [] if isinstance(box, str) else list(box)
    except TypeError:
        vals = []
    if len(vals) != 4 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in vals):
        shown = ", ".join(map(str, vals)) if vals else str(box)
        raise InputError(f"box must be 4 integers x0, y0, x1, y1 (pixels of the source image), got {shown}",
                         argument="box")
    x0, y0, x1, y1 = (int(v) for v in vals)
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise InputError(f"box must have 0 <= x0 < x1 and 0 <= y0 < y1, got {x0}, {y0}, {x1}, {y1}", argument="box")
    return x0, y0, x1, y1


def _inside(box: tuple[int, int, int, int], width: int, height: int, name: str) -> tuple[int, int, int, int]:
    """``box`` if it lies inside a width x height image.

    Raises:
        InputError: it reaches past the right or bottom edge.
    """
    if box[2] > width or box[3] > height:
        raise InputError(f"box {', '.join(map(str, box))} does not fit in {name}, which is {width} x {height} "
                         f"pixels (need x1 <= {width} and y1 <= {height})", argument="box")
    return box


def _center_box(width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
    """The largest centred box of aspect ratio ``aspect`` (= width / height) inside the image."""
    if width / height > aspect:
        new_w = max(1, round(height * aspect))
        left = (width - new_w) // 2
        return left, 0, left + new_w, height
    new_h = max(1, round(width / aspect))
    top = (height - new_h) // 2
    return 0, top, width, top + new_h


def as_target(target, shape: tuple[int, int, int], *, box=None, crop: str = "center", resample: str = "bicubic",
              name: str = "generator", max_pixels: int = DEFAULT_MAX_PIXELS, argument: str = "target") -> torch.Tensor:
    """Validate an inversion target against the generator's image shape; return (C, H, W).

    Args:
        target: a (C, H, W) or (1, C, H, W) tensor/array in [-1, 1], or an image path.
        shape: the generator's image shape (C, H, W).
        box, crop, resample, max_pixels: for image files, see :func:`load_image`.
        name: the generator's name, for messages.
        argument: the argument that gave the target (the error's ``argument``).

    Raises:
        InputError: wrong type, shape, non-finite values, values outside [-1, 1], bad file,
            or a box given with a tensor target.
    """
    if isinstance(target, (str, Path)):
        return load_image(target, size=shape[1:], channels=shape[0], box=box, crop=crop, resample=resample,
                          max_pixels=max_pixels, argument=argument)
    if box is not None:
        raise InputError("box applies to an image file target; cut a tensor target yourself", argument="box")
    if isinstance(target, np.ndarray):
        target = torch.from_numpy(target)
    if not isinstance(target, torch.Tensor):
        raise InputError(f"target must be an image path or a (C, H, W) tensor in [-1, 1], got {type(target).__name__}",
                         argument=argument)
    if not target.is_floating_point():
        dtype = str(target.dtype).replace("torch.", "")
        raise InputError(f"target must be a floating-point tensor in [-1, 1], got dtype {dtype}", argument=argument)
    t = target.detach()
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if tuple(t.shape) != tuple(shape):
        raise InputError(f"target must have shape {tuple(shape)} or (1, {', '.join(map(str, shape))}) to match "
                         f"{name}'s images, got {tuple(target.shape)}", argument=argument)
    if not torch.isfinite(t).all():
        raise InputError("target contains NaN or inf values", argument=argument)
    lo, hi = float(t.min()), float(t.max())
    if lo < -1 - RANGE_TOL or hi > 1 + RANGE_TOL:
        raise InputError(f"target values must lie in [-1, 1] (map [0, 1] images by 2x - 1), got [{lo:.4g}, {hi:.4g}]",
                         argument=argument)
    return t
