"""Image montages: explore (one row per axis) and action (one row per reference code).

Layout, in pixels, for R rows and C columns of images upscaled to ``cell = side * scale``:
a title bar ``TITLE_H`` high, a label column ``LABEL_W`` wide on the left, and per row the
images plus ``caption_lines * LINE_H`` of caption under them, ``PAD`` between everything.
:func:`grid_size` gives the exact size, so tests and users can rely on it.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

from .. import checks
from ..errors import InputError
from ..io import atomic_write_bytes
from .apply import axis_vector, placement, walk

TITLE_H = 18
LABEL_W = 96
LINE_H = 13
PAD = 2


def grid_size(rows: int, cols: int, cell: int, caption_lines: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of a montage of ``rows`` x ``cols`` cells of ``cell`` pixels."""
    width = LABEL_W + cols * (cell + PAD) + PAD
    height = TITLE_H + rows * (cell + caption_lines * LINE_H + PAD) + PAD
    return width, height


def _font(size: int = 11):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        return ImageFont.load_default()


def render_grid(images, *, row_labels, captions=None, title: str = "", scale: int = 1):
    """Lay out images (R, C, 3, h, w) in [-1, 1] as a labelled PIL image.

    Args:
        images: tensor or array (R, C, channels, h, w); 1-channel images are shown grey.
        row_labels: R strings (may hold newlines) drawn left of each row.
        captions: R x C strings (may hold newlines) drawn under each image, or None.
        title: one line above the grid.
        scale: integer upscaling of each image (nearest neighbour).

    Returns:
        A ``PIL.Image.Image`` (RGB) of size :func:`grid_size`.
    """
    from PIL import Image, ImageDraw
    arr = images.detach().cpu().double().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    R, C, ch, h, w = arr.shape
    if ch == 1:
        arr = np.repeat(arr, 3, axis=2)
    pix = np.clip((arr[:, :, :3] + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8).transpose(0, 1, 3, 4, 2)
    cell = max(h, w) * scale
    lines = 0 if captions is None else max(1, max(str(c).count("\n") + 1 for row in captions for c in row))
    width, height = grid_size(R, C, cell, lines)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font()
    draw.text((PAD, 2), title, fill="black", font=font)
    for r in range(R):
        y = TITLE_H + r * (cell + lines * LINE_H + PAD)
        draw.multiline_text((PAD, y + 2), row_labels[r], fill="black", font=font, spacing=2)
        for c in range(C):
            x = LABEL_W + PAD + c * (cell + PAD)
            tile = Image.fromarray(pix[r, c])
            if scale != 1:
                tile = tile.resize((w * scale, h * scale), Image.NEAREST)
            canvas.paste(tile, (x, y))
            if captions is not None:
                draw.multiline_text((x + 1, y + cell + 1), str(captions[r][c]), fill="black", font=font,
                                    spacing=1)
    return canvas


def save_png(image, path, *, palette: bool = False) -> None:
    """Write a PIL image as PNG atomically (never a half-written file).

    Args:
        image: a ``PIL.Image.Image``.
        path: where to write.
        palette: quantize to 256 colours (median cut): about 3x smaller files, for docs.
    """
    if palette:
        from PIL import Image
        image = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    atomic_write_bytes(path, buf.getvalue())


def save_image(x, path) -> None:
    """Write one image (C, H, W) in [-1, 1] as a PNG at its own resolution, atomically."""
    from PIL import Image
    arr = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if arr.ndim != 3:
        raise InputError(f"expected one image of shape (C, H, W), got {arr.shape}")
    pix = np.clip((arr + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    save_png(Image.fromarray(pix[..., 0] if pix.shape[2] == 1 else pix[..., :3]), path)


@torch.no_grad()
def render_codes(G, codes, chunk: int = 64) -> torch.Tensor:
    """Images (B, C, H, W) in [-1, 1] (float64, CPU) of codes (B, n), in chunks, without gradients."""
    codes = torch.as_tensor(codes)
    out = [G(codes[s:s + chunk].to(**placement(G))).detach().cpu().double()
           for s in range(0, codes.shape[0], chunk)]
    return torch.cat(out)


@dataclass(frozen=True)
class Montage:
    """A rendered montage and what it shows.

    Attributes:
        image: the ``PIL.Image.Image``.
        steps: (rows, cols) amounts used (latent units; radians on the sphere).
        codes: (rows, cols, n) the codes rendered.
    """

    image: object
    steps: np.ndarray
    codes: np.ndarray

    def save(self, path, *, palette: bool = False) -> None:
        """Write the image as PNG atomically (``palette``: 256 colours, smaller)."""
        save_png(self.image, path, palette=palette)


def _steps_grid(n_steps: int, amount_range: float) -> np.ndarray:
    checks.positive_int("steps", n_steps)
    if n_steps < 3 or n_steps % 2 == 0:
        raise InputError(f"steps must be an odd number >= 3 so that the reference sits in the middle, got {n_steps}")
    amount_range = float(amount_range)
    if not (np.isfinite(amount_range) and amount_range > 0):
        raise InputError(f"range must be a positive finite number, got {amount_range}")
    return np.linspace(-amount_range, amount_range, n_steps)


def explore_montage(G, z0, axes, *, indices, steps: int = 7, amount_range: float = 3.0, sphere: bool = False,
                    calibrated=None, scale: int = 1, title: str | None = None) -> Montage:
    """One row per axis: the images along it, the reference in the middle column.

    Args:
        G: generator.
        z0: (n,) or (1, n) reference code.
        axes: :class:`~ganmetric.axes.Axes`.
        indices: axis indices, one row each.
        steps: odd number of columns (ignored with ``calibrated``).
        amount_range: largest |t| (latent units; radians on the sphere).
        sphere: move on the sphere of radius |z0|.
        calibrated: a :class:`~ganmetric.axes.CalibratedSteps` for the same indices: use its
            steps per row instead of the even grid, and caption the achieved distances.
        scale: integer upscaling of each image.
        title: title line (default: model, sphere/linear, range).

    Returns:
        :class:`Montage`.

    Raises:
        InputError: bad steps/range, index out of range, bad reference code.
    """
    from .calibrate import _reference
    z = _reference(G, z0)
    indices = [int(i) for i in indices]
    if calibrated is not None:
        if list(calibrated.indices) != indices:
            raise InputError(f"calibrated steps are for axes {list(calibrated.indices)}, not {indices}")
        grid = np.asarray(calibrated.steps)
    else:
        grid = np.tile(_steps_grid(steps, amount_range), (len(indices), 1))
    codes = torch.stack([walk(z, axis_vector(axes, i), grid[r], sphere=sphere) for r, i in enumerate(indices)])
    imgs = render_codes(G, codes.reshape(-1, codes.shape[-1]))
    imgs = imgs.reshape(*codes.shape[:2], *imgs.shape[1:])
    unit = "rad" if sphere else ""
    if calibrated is not None:
        captions = [[f"{t:+.2f}{unit}\nd={d:.3g}" for t, d in zip(grid[r], calibrated.distances[r])]
                    for r in range(len(indices))]
    else:
        captions = [[f"{t:+.2f}{unit}" for t in grid[r]] for r in range(len(indices))]
    labels = [f"axis {i}\neig={axes.eigvals[i]:.3g}" for i in indices]
    if title is None:
        how = "sphere (angle, rad)" if sphere else "linear"
        what = (f"calibrated to d<={calibrated.targets[-1]:.3g}" if calibrated is not None
                else f"range +-{amount_range:g}")
        title = f"{G.name}: {how}, {what}"
    image = render_grid(imgs, row_labels=labels, captions=captions, title=title, scale=scale)
    return Montage(image, grid, codes.numpy())


def action_montage(G, codes, axes, i: int, *, steps: int = 7, amount_range: float = 3.0, sphere: bool = False,
                   ts=None, row_labels=None, scale: int = 1, title: str | None = None) -> Montage:
    """The same axis applied to several reference codes: one row per code (homogeneity, by eye).

    Args:
        G: generator.
        codes: (R, n) reference codes.
        axes: :class:`~ganmetric.axes.Axes`.
        i: the axis index.
        steps, amount_range: the even grid of amounts (as in :func:`explore_montage`).
        sphere: move on the sphere of radius |z| of each code.
        ts: explicit amounts (overrides steps/range), e.g. a calibrated row.
        row_labels: R labels (default "code r").
        scale: integer upscaling.
        title: title line.

    Returns:
        :class:`Montage`.

    Raises:
        InputError: bad codes, steps, range or index.
    """
    codes = checks.latent_codes(codes, G.latent_dim, name="reference codes").detach().cpu().double()
    u = axis_vector(axes, i)
    grid = _steps_grid(steps, amount_range) if ts is None else np.asarray(ts, dtype=np.float64)
    if not np.isfinite(grid).all():
        raise InputError("amounts must be finite numbers")
    walks = torch.stack([walk(c, u, grid, sphere=sphere) for c in codes])
    imgs = render_codes(G, walks.reshape(-1, walks.shape[-1]))
    imgs = imgs.reshape(*walks.shape[:2], *imgs.shape[1:])
    labels = row_labels or [f"code {r}" for r in range(len(codes))]
    unit = "rad" if sphere else ""
    captions = [[f"{t:+.2f}{unit}" for t in grid] for _ in range(len(codes))]
    title = title or f"{G.name}: axis {int(i)} (eig={axes.eigvals[int(i)]:.3g}) on {len(codes)} codes"
    image = render_grid(imgs, row_labels=labels, captions=captions, title=title, scale=scale)
    return Montage(image, np.tile(grid, (len(codes), 1)), walks.numpy())
