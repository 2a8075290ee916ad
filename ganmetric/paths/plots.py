"""Pictures of paths: a montage (one row per method), the step sizes along each path, an animated GIF.

Each returns bytes or a PIL image, so that callers write files atomically.
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch

from ..axes.montage import _font, _render_codes, _render_grid
from ..distances import describe_distance
from ..plotting import figure, figure_png_bytes, to_uint8

#: a GIF's frames are upscaled (nearest neighbour) to at least this side, in pixels
GIF_MIN_SIDE = 128
#: milliseconds per GIF frame, and at each end of the path (a pause before it turns back)
GIF_FRAME_MS, GIF_END_MS = 120, 700
#: default number of montage columns at most
MONTAGE_FRAMES = 16


def frame_indices(points: int, frames: int) -> list[int]:
    """Indices of at most ``frames`` codes spread over a path of ``points`` codes, both ends included.

    All of them when frames >= points; else evenly spaced when some count between frames / 2
    and frames divides the path's T steps evenly (e.g. 6 of 16 points: 0, 3, ..., 15), else
    the nearest indices to an even spread.
    """
    if frames >= points:
        return list(range(points))
    T = points - 1
    for count in range(frames, (frames + 1) // 2 - 1, -1):
        if count >= 3 and T % (count - 1) == 0:
            return list(range(0, points, T // (count - 1)))
    return sorted({int(k * T / (frames - 1) + 0.5) for k in range(frames)})


def _model_name(G) -> str:
    return f"{getattr(G, 'name', 'generator')} [{getattr(G, 'latent_space', 'z')}, n={int(G.latent_dim)}]"


def _row_name(method: str, path) -> str:
    """The method, the prior weight of a geodesic that used one, and * if it stopped unconverged."""
    w = path.options.get("prior_weight") or 0
    return method + ("*" if path.converged is False else "") + (f" w={w:g}" if w > 0 else "")


def montage_image(G, D, paths: dict, *, frames: int = MONTAGE_FRAMES, scale: int = 1):
    """One row per path, the same frames (code indices) in every row, each captioned with its
    cumulative length from the path's start.

    Args:
        G: the generator. D: the distance the paths were measured with.
        paths: ``{method: LatentPath}``, all with the same number of codes.
        frames: columns at most (codes spread evenly along the path; all if fewer).
        scale: integer upscaling of each image.

    Returns:
        A ``PIL.Image.Image``.
    """
    first = next(iter(paths.values()))
    idx = frame_indices(first.points, frames)
    rows, labels, captions = [], [], []
    for method, path in paths.items():
        rows.append(_render_codes(G, path.codes[idx]))
        even = f"{path.evenness:.2f}" if path.evenness is not None else "n/a"
        labels.append(f"{_row_name(method, path)}\nL = {path.length:.3g}\nE = {path.energy:.3g}\nmax/mean {even}")
        cum = path.cumulative
        captions.append([f"{float(cum[i]):.3g}" for i in idx])
    images = torch.stack(rows)
    which = f"every point (0 to {first.points - 1})" if len(idx) == first.points else \
        f"points {', '.join(map(str, idx))} of 0 to {first.points - 1}"
    title = (f"{_model_name(G)}: {len(paths)} paths between the same two codes, {first.points} points each, "
             f"under {describe_distance(D)}. Columns: {which}. Caption: length L travelled "
             f"from the left end (sum of sqrt d between consecutive points). E = T x sum of squared steps; "
             f"max/mean: largest step over the mean step (1 = even)."
             + (" w: the geodesic's prior weight." if any("w=" in _row_name(m, p) for m, p in paths.items()) else "")
             + (" *: stopped before its stopping rule was met (not converged)."
                if any(p.converged is False for p in paths.values()) else ""))
    return _render_grid(images, row_labels=labels, captions=captions, title=title, scale=scale)


def steps_png(G, D, paths: dict) -> bytes:
    """A PNG of the step sizes s_i along each path, one line per method."""
    fig = figure(figsize=(7.2, 4.4))
    ax = fig.subplots()
    for method, path in paths.items():
        steps = path.steps.numpy()
        even = f"{path.evenness:.2f}" if path.evenness is not None else "n/a"
        ax.plot(np.arange(1, len(steps) + 1), steps, marker="o", ms=3, lw=1.5,
                label=f"{_row_name(method, path)}: L = {path.length:.3g}, max/mean step {even}")
    T = len(next(iter(paths.values())).steps)
    ax.set_xlabel(f"step i (from point i-1 to point i), {T} steps")
    ax.set_ylabel("step size s_i = sqrt d(G(z_i-1), G(z_i))")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{_model_name(G)}, distance {describe_distance(D)}\nstep sizes along each path "
                 f"(a flat line = even steps)", fontsize=9)
    return figure_png_bytes(fig, dpi=100, bbox_inches="tight")


def gif_bytes(G, path, *, method: str | None = None) -> bytes:
    """An animated GIF of a path's images, forward then back, each frame captioned with its point
    and the length travelled so far.

    Args:
        G: the generator. path: a :class:`~ganmetric.paths.LatentPath`.
        method: the name shown on the frames (default: the path's method).
    """
    from PIL import Image, ImageDraw
    pix = to_uint8(_render_codes(G, path.codes))
    if pix.shape[-1] == 1:
        pix = np.repeat(pix, 3, axis=-1)
    side = max(pix.shape[1:3])
    scale = max(1, math.ceil(GIF_MIN_SIDE / side))
    font = _font()
    band = 30
    cum = path.cumulative
    T = path.points - 1
    frames = []
    for i, p in enumerate(pix[..., :3]):
        tile = Image.fromarray(np.ascontiguousarray(p)).resize((p.shape[1] * scale, p.shape[0] * scale),
                                                               Image.NEAREST)
        canvas = Image.new("RGB", (max(tile.width, 128), tile.height + band), "white")
        canvas.paste(tile, ((canvas.width - tile.width) // 2, 0))
        draw = ImageDraw.Draw(canvas)
        draw.text((3, tile.height + 2), f"{method or path.method}  {i}/{T}", fill="black", font=font)
        draw.text((3, tile.height + 15), f"L {float(cum[i]):.3g} of {path.length:.3g}", fill="black", font=font)
        frames.append(canvas)
    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))
    durations = [GIF_END_MS if k in (0, len(frames) - 1) else GIF_FRAME_MS for k in order]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=[frames[k] for k in order[1:]],
                   duration=durations, loop=0, disposal=1)
    return buf.getvalue()
