"""Figures and images written to files: one way to draw, one rounding convention, atomic writes.

Figures are drawn on a :class:`matplotlib.figure.Figure` with its own Agg canvas, never
through ``pyplot``, so plotting from ganmetric leaves a notebook user's backend and open
figures alone. Images in [-1, 1] become 8-bit pixels by one rule, :func:`to_uint8`.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .io import atomic_write_bytes

#: file suffixes the package writes images as, and the PIL format of each
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def figure(**kwargs):
    """A new :class:`matplotlib.figure.Figure` attached to an Agg canvas (no pyplot state).

    Args:
        **kwargs: passed to ``Figure`` (``figsize``, ``dpi``, ``layout``, ...).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def figure_png_bytes(fig, **savefig_kwargs) -> bytes:
    """The figure rendered as PNG bytes (``savefig_kwargs``: dpi, bbox_inches, ...)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig_kwargs)
    return buf.getvalue()


def save_figure(fig, path, **savefig_kwargs) -> Path:
    """Write the figure as a PNG atomically; returns the path."""
    return atomic_write_bytes(path, figure_png_bytes(fig, **savefig_kwargs))


def to_uint8(images) -> np.ndarray:
    """8-bit pixels of images in [-1, 1]: ``round((x + 1) * 127.5)`` after clipping to [-1, 1].

    Args:
        images: tensor or array (..., C, H, W).

    Returns:
        uint8 array (..., H, W, C) (channels last, as PIL and matplotlib expect).
    """
    arr = images.detach().cpu().double().numpy() if isinstance(images, torch.Tensor) else \
        np.asarray(images, dtype=np.float64)
    pix = np.rint((np.clip(arr, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    return np.moveaxis(pix, -3, -1)


def image_format(path) -> str:
    """The PIL format a file name asks for (PNG or JPEG, from its suffix).

    Raises:
        InputError: any other suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise InputError(f"cannot write an image as {Path(path).name}: the name must end in "
                         f"{', '.join(IMAGE_FORMATS)}", argument="path")
    return IMAGE_FORMATS[suffix]


def pil_image(image):
    """A PIL image from a PIL image, or from one (C, H, W) image in [-1, 1] (C = 1 or 3).

    Raises:
        InputError: not one image with 1 or 3 channels.
    """
    from PIL import Image
    if isinstance(image, Image.Image):
        return image
    shape = tuple(image.shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise InputError(f"expected one image of shape (C, H, W) with 1 or 3 channels, got {shape}", argument="image")
    pix = to_uint8(image)
    return Image.fromarray(pix[..., 0] if pix.shape[-1] == 1 else pix)


def image_bytes(image, fmt: str = "PNG", *, palette: bool = False) -> bytes:
    """Encoded bytes of a PIL image or a (C, H, W) image in [-1, 1].

    Args:
        image: the image.
        fmt: "PNG" or "JPEG".
        palette: PNG only: quantize to 256 colours (median cut), about 3x smaller, for docs.
    """
    from PIL import Image
    im = pil_image(image)
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.convert("RGB" if im.mode not in ("L", "RGB") else im.mode).save(buf, format="JPEG", quality=95)
    else:
        if palette:
            im = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def save_image(image, path, *, palette: bool = False) -> Path:
    """Write an image atomically in the format its suffix names (``.png``, ``.jpg``, ``.jpeg``).

    Raises:
        InputError: another suffix, or not an image.
    """
    return atomic_write_bytes(path, image_bytes(image, image_format(path), palette=palette))
