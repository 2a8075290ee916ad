"""Image montages: explore (one row per axis) and action (one row per reference code).

Layout, in pixels, for R rows and C columns of images upscaled to ``cell = side * scale``:
a title band (the title wrapped to the montage's width, ``LINE_H`` per line), a label
column ``LABEL_W`` wide on the left, and per row the images plus ``caption_lines * LINE_H``
of caption under them, ``PAD`` between everything. :func:`_grid_size` gives the exact size.
Pixels come from :func:`ganmetric.plotting.to_uint8` (the package's one rounding rule);
files are written in the format their suffix names (PNG or JPEG).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import checks
from ..errors import InputError
from ..placement import cpu_tensor, placement
from ..plotting import save_image, to_uint8
from ..precision import exact_float32
from .apply import _axis_vector, _reference, walk
from .curves import _distances
from .outputs import check_output

LABEL_W = 96
LINE_H = 13
PAD = 2
#: unreached calibration targets: the cell gets a frame of this colour and width, its caption this colour
MARK_COLOUR, MARK_W = (220, 0, 0), 2


def _title_height(lines: int) -> int:
    return 5 + LINE_H * max(lines, 1)


def _grid_size(rows: int, cols: int, cell: int, caption_lines: int = 1, title_lines: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of a montage of ``rows`` x ``cols`` cells of ``cell`` pixels."""
    width = LABEL_W + cols * (cell + PAD) + PAD
    height = _title_height(title_lines) + rows * (cell + caption_lines * LINE_H + PAD) + PAD
    return width, height


def _font(size: int = 11):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        return ImageFont.load_default()


def _wrap(text: str, draw, font, width: int) -> list[str]:
    """Words of ``text`` in lines no wider than ``width`` pixels (a longer single word keeps its own line)."""
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + [line] if line else lines or [""]


def _check_scale(scale) -> int:
    """An integer upscaling factor >= 1.

    Raises:
        InputError: anything else.
    """
    return checks.positive_int("scale", scale)


def _tiles(images, scale: int) -> list:
    """PIL images of (B, C, h, w) images in [-1, 1], upscaled ``scale`` times (nearest neighbour)."""
    from PIL import Image
    pix = to_uint8(images)
    if pix.shape[-1] == 1:
        pix = np.repeat(pix, 3, axis=-1)
    out = []
    for p in pix[..., :3]:
        tile = Image.fromarray(np.ascontiguousarray(p))
        out.append(tile if scale == 1 else tile.resize((tile.width * scale, tile.height * scale), Image.NEAREST))
    return out


def _render_grid(images, *, row_labels, captions=None, title: str = "", scale: int = 1, marks=None):
    """Lay out images (R, C, channels, h, w) in [-1, 1] as a labelled PIL image.

    Args:
        images: tensor or array (R, C, channels, h, w); 1-channel images are shown grey.
        row_labels: R strings (may hold newlines) drawn left of each row.
        captions: R x C strings (may hold newlines) drawn under each image, or None.
        title: drawn above the grid, wrapped to its width.
        scale: integer upscaling of each image (nearest neighbour).
        marks: (R, C) bools: those cells get a red frame and a red caption.

    Returns:
        A ``PIL.Image.Image`` (RGB) of size :func:`_grid_size`.
    """
    from PIL import Image, ImageDraw
    scale = _check_scale(scale)
    arr = cpu_tensor(images)
    arr = arr.double() if isinstance(images, torch.Tensor) else arr
    R, C, _, h, w = arr.shape
    tiles = _tiles(arr.reshape(R * C, *arr.shape[2:]), scale)
    marks = np.zeros((R, C), dtype=bool) if marks is None else np.asarray(marks, dtype=bool)
    cell = max(h, w) * scale
    lines = 0 if captions is None else max(1, max(str(c).count("\n") + 1 for row in captions for c in row))
    font = _font()
    width = _grid_size(R, C, cell, lines)[0]
    title_lines = _wrap(title, ImageDraw.Draw(Image.new("RGB", (1, 1))), font, width - 2 * PAD)
    canvas = Image.new("RGB", _grid_size(R, C, cell, lines, len(title_lines)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.multiline_text((PAD, 2), "\n".join(title_lines), fill="black", font=font, spacing=LINE_H - 11)
    top = _title_height(len(title_lines))
    for r in range(R):
        y = top + r * (cell + lines * LINE_H + PAD)
        draw.multiline_text((PAD, y + 2), row_labels[r], fill="black", font=font, spacing=2)
        for c in range(C):
            x = LABEL_W + PAD + c * (cell + PAD)
            canvas.paste(tiles[r * C + c], (x, y))
            colour = MARK_COLOUR if marks[r, c] else "black"
            if marks[r, c]:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), outline=MARK_COLOUR, width=MARK_W)
            if captions is not None:
                draw.multiline_text((x + 1, y + cell + 1), str(captions[r][c]), fill=colour, font=font, spacing=1)
    return canvas


@exact_float32
@torch.no_grad()
def _render_codes(G, codes, chunk: int = 64) -> torch.Tensor:
    """Images (B, C, H, W) in [-1, 1] (float64, CPU) of codes (B, n), in chunks, without gradients."""
    codes = cpu_tensor(codes)
    out = [G(codes[s:s + chunk].to(**placement(G))).detach().cpu().double()
           for s in range(0, codes.shape[0], chunk)]
    return torch.cat(out)


def render_images(G, codes, *, scale: int = 1, chunk: int = 64) -> list:
    """The images of latent codes as PIL images, each upscaled ``scale`` times (nearest neighbour).

    Args:
        G: generator.
        codes: (n,) or (B, n) codes.
        scale: integer upscaling factor >= 1.
        chunk: codes per generator pass.

    Returns:
        B ``PIL.Image.Image`` (RGB), e.g. for :func:`ganmetric.plotting.save_image`.

    Raises:
        InputError: a scale that is not an integer >= 1, or bad codes.
    """
    scale = _check_scale(scale)
    codes = checks.latent_codes("codes", codes, G.latent_dim)
    return _tiles(_render_codes(G, codes, checks.positive_int("chunk", chunk)), scale)


@dataclass(frozen=True)
class Montage:
    """A rendered montage and what it shows.

    Attributes:
        image: the ``PIL.Image.Image``.
        steps: (rows, cols) amounts used (latent units; radians on the sphere).
        codes: (rows, cols, n) the codes rendered.
        distances: (rows, cols) the real distance of each cell from its row's reference, or
            None when no distance was given.
    """

    image: object
    steps: np.ndarray
    codes: np.ndarray
    distances: np.ndarray | None = None

    def save(self, path, *, palette: bool = False):
        """Write the image atomically as PNG or JPEG, by the name's suffix (``palette``: 256-colour PNG).

        Raises:
            InputError: a suffix other than .png, .jpg or .jpeg (nothing is written).
        """
        return save_image(self.image, check_output(path, "image", argument="path"), palette=palette)


def _steps_grid(n_steps: int, amount_range: float) -> np.ndarray:
    if checks.integer("steps", n_steps, minimum=3) % 2 == 0:
        raise InputError(f"steps must be an odd number >= 3 so that the reference sits in the middle, got {n_steps}",
                         argument="steps")
    amount_range = checks.positive_float("amount_range", amount_range)
    return np.linspace(-amount_range, amount_range, n_steps)


def _step(t: float) -> str:
    """A step as a caption: 3 significant digits (small calibrated angles stay distinct), signed, 0 plain; the
    unit (latent units, or radians on the sphere) is in the title."""
    return "0" if t == 0 else f"{t:+.3g}"


def _calibrated_captions(cal) -> tuple[list, np.ndarray]:
    """Captions "step / d=achieved" (unreached: "max <largest d found>") and the cells to mark."""
    captions = []
    for r in range(len(cal.indices)):
        row = []
        for t, d, ok in zip(cal.steps[r], cal.distances[r], cal.reached[r]):
            row.append(f"{_step(t)}\n" + (f"d={d:.3g}" if ok else f"max {d:.2g}"))
        captions.append(row)
    return captions, ~cal.reached


def _explore_title(G, sphere, amount_range, cal) -> str:
    move = "rotation by t rad toward each axis, |z0| kept" if sphere else "z0 + t u along each axis"
    if cal is None:
        return f"{G.name}: {move}, t in [-{amount_range:g}, {amount_range:g}]"
    unit = " rad" if sphere else ""
    title = (f"{G.name}: {move}, t calibrated per axis so that the {cal.distance or 'distance'} d from the middle "
             f"image is evenly spaced up to {cal.targets[-1]:.3g}")
    if not cal.reached.all():
        title += f"; red: not reached within |t|<={cal.max_step:.3g}{unit} (caption: the largest d found)"
    return title


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
            steps per row instead of the even grid, and caption the achieved distances; cells
            whose target was not reached get a red frame and "max" with the largest d found.
        scale: integer upscaling of each image.
        title: title (default: model, sphere/linear, range or calibration).

    Returns:
        :class:`Montage`.

    Raises:
        InputError: bad steps/range/scale, index out of range, bad reference code, or
            calibrated steps for other indices.
    """
    scale = _check_scale(scale)
    z = _reference(G, z0)
    us = [_axis_vector(axes, i, argument="indices") for i in indices]
    indices = [int(i) for i in indices]
    marks, distances = None, None
    if calibrated is not None:
        if list(calibrated.indices) != indices:
            raise InputError(f"calibrated steps are for axes {list(calibrated.indices)}, not {indices}",
                             argument="calibrated")
        grid, distances = np.asarray(calibrated.steps), np.asarray(calibrated.distances)
        captions, marks = _calibrated_captions(calibrated)
    else:
        grid = np.tile(_steps_grid(steps, amount_range), (len(indices), 1))
        captions = [[_step(t) for t in grid[r]] for r in range(len(indices))]
    codes = torch.stack([walk(z, u, grid[r], sphere=sphere) for r, u in enumerate(us)])
    imgs = _render_codes(G, codes.reshape(-1, codes.shape[-1]))
    imgs = imgs.reshape(*codes.shape[:2], *imgs.shape[1:])
    labels = [f"axis {i}\neig={axes.eigvals[i]:.3g}" for i in indices]
    title = title if title is not None else _explore_title(G, sphere, amount_range, calibrated)
    image = _render_grid(imgs, row_labels=labels, captions=captions, title=title, scale=scale, marks=marks)
    return Montage(image, grid, codes.numpy(), distances)


def _row_distances(G, D, codes: torch.Tensor, walks: torch.Tensor) -> np.ndarray:
    """(R, T) d(G(code_r), G(walk_r,t)) for each reference code and its walk."""
    out = []
    for c, w in zip(codes, walks):
        x0 = G(c[None].to(**placement(G))).detach()
        out.append(_distances(G, D, x0, w, 64).numpy())
    return np.stack(out)


def action_montage(G, codes, axes, i: int, *, steps: int = 7, amount_range: float = 3.0, sphere: bool = False,
                   ts=None, D=None, row_labels=None, scale: int = 1, title: str | None = None,
                   steps_note: str | None = None) -> Montage:
    """The same axis applied to several reference codes: one row per code (homogeneity, by eye).

    Args:
        G: generator.
        codes: (R, n) reference codes.
        axes: :class:`~ganmetric.axes.Axes`.
        i: the axis index.
        steps, amount_range: the even grid of amounts (as in :func:`explore_montage`).
        sphere: move on the sphere of radius |z| of each code.
        ts: explicit amounts (overrides steps/range), e.g. a calibrated row.
        D: a distance: caption each cell with its real distance from its row's reference
            (the same step changes different codes by different amounts).
        row_labels: R labels (default "code r").
        scale: integer upscaling.
        title: title (default: model, axis, number of codes, and ``steps_note``).
        steps_note: where the steps come from, added to the default title (e.g. "steps
            calibrated to d<=0.05 at seed 0").

    Returns:
        :class:`Montage` (``distances`` set when ``D`` is given).

    Raises:
        InputError: bad codes, steps, range, amounts, scale or index.
    """
    scale = _check_scale(scale)
    codes = checks.latent_codes("codes", codes, G.latent_dim).detach().cpu().double()
    u = _axis_vector(axes, i)
    grid = _steps_grid(steps, amount_range) if ts is None else np.asarray(ts, dtype=np.float64).reshape(-1)
    if not np.isfinite(grid).all():
        raise InputError("amounts must be finite numbers", argument="ts")
    walks = torch.stack([walk(c, u, grid, sphere=sphere) for c in codes])
    imgs = _render_codes(G, walks.reshape(-1, walks.shape[-1]))
    imgs = imgs.reshape(*walks.shape[:2], *imgs.shape[1:])
    dist = _row_distances(G, D, codes, walks) if D is not None else None
    captions = [[_step(t) + ("" if dist is None else f"\nd={dist[r, c]:.3g}") for c, t in enumerate(grid)]
                for r in range(len(codes))]
    if title is None:
        unit = " (rad, on the sphere)" if sphere else ""
        title = (f"{G.name}: axis {int(i)} (eig={axes.eigvals[int(i)]:.3g}) applied to {len(codes)} codes, the same "
                 f"t{unit} on every row" + (f"; {steps_note}" if steps_note else "")
                 + ("; d: each cell's distance from its row's middle image" if dist is not None else ""))
    labels = row_labels or [f"code {r}" for r in range(len(codes))]
    image = _render_grid(imgs, row_labels=labels, captions=captions, title=title, scale=scale)
    return Montage(image, np.tile(grid, (len(codes), 1)), walks.numpy(), dist)
