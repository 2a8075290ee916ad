"""Real distances along axes, and their plot against the metric's quadratic prediction.

The metric predicts, for a unit axis u with eigenvalue lambda and a small linear step t,

    d(G(z0), G(z0 + t u)) = lambda t^2 / 2 + O(t^3)

(H is the Hessian of d, so the quadratic term carries the Taylor 1/2). On the sphere of
radius r = |z0| an angle t moves the code by about r t, so the prediction is
``lambda (r t)^2 / 2`` (exact to second order only when u is orthogonal to z0).
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..errors import InputError
from ..placement import check_same_dtype, placement
from ..precision import exact_float32
from ..plotting import figure, save_figure
from .apply import _axis_vector, _reference, walk
from .outputs import check_output

#: panel size in inches and the resolution: each panel is PANEL_W*DPI x PANEL_H*DPI pixels.
PANEL_W, PANEL_H, DPI = 3.2, 2.6, 100
MAX_COLS = 4


def predicted_distance(eigval: float, ts, *, sphere: bool = False, radius: float = 1.0) -> np.ndarray:
    """The metric's quadratic prediction ``lambda s^2 / 2`` with s = t (linear) or radius * t (sphere).

    Args:
        eigval: the axis' eigenvalue lambda.
        ts: (T,) amounts (latent units; radians on the sphere).
        sphere: the amounts are angles on the sphere of radius ``radius``.
        radius: |z0|, for spherical steps.

    Returns:
        (T,) predicted distances.
    """
    s = np.asarray(ts, dtype=np.float64) * (radius if sphere else 1.0)
    return 0.5 * float(eigval) * s ** 2


@torch.no_grad()
def _distances(G, D, x0: torch.Tensor, codes: torch.Tensor, chunk: int) -> torch.Tensor:
    """d(x0, G(code)) for each row of codes (float64 on the CPU)."""
    out = []
    for start in range(0, codes.shape[0], chunk):
        batch = codes[start:start + chunk].to(**placement(G))
        out.append(D(x0, D.inputs(G, batch)).detach().to(device="cpu", dtype=torch.float64).reshape(-1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64, device="cpu")


def _curve_amounts(amount_range: float, points: int) -> np.ndarray:
    """``points`` evenly spaced amounts from ``-amount_range`` to ``amount_range``.

    Raises:
        InputError: a range that is not a positive finite number, or fewer than 2 points.
    """
    amount_range = checks.positive_float("curves_range", amount_range)
    points = checks.integer("curve_points", points, minimum=2)
    return np.linspace(-amount_range, amount_range, points)


@exact_float32
def distance_curves(G, D, z0, axes, indices, ts, *, sphere: bool = False, chunk: int = 64) -> np.ndarray:
    """Real distances ``d(G(z0), G(walk(z0, u_i, t)))`` for each axis i and amount t.

    Args:
        G: the generator.
        D: the distance.
        z0: (n,) or (1, n) reference code.
        axes: :class:`~ganmetric.axes.Axes` or (K, n) rows.
        indices: axis indices.
        ts: (T,) amounts (latent units; radians on the sphere), evenly spaced from -range to range.
        sphere: walk on the sphere of radius |z0|.
        chunk: codes per generator pass.

    Returns:
        (len(indices), T) float64 distances.

    Raises:
        InputError: bad reference code, index out of range, non-finite amounts, a distance on
            another device or of another dtype than G.
    """
    check_same_dtype(G, D)
    z = _reference(G, z0)
    ts = np.asarray(ts, dtype=np.float64).reshape(-1)
    if not np.isfinite(ts).all():
        raise InputError("amounts must be finite numbers", argument="ts")
    us = [_axis_vector(axes, i, argument="indices") for i in indices]
    x0 = D.inputs(G, z[None].to(**placement(G))).detach()
    codes = torch.cat([walk(z, u, ts, sphere=sphere) for u in us])
    return _distances(G, D, x0, codes, checks.positive_int("chunk", chunk)).reshape(len(us), len(ts)).numpy()


def _curves_size(n_axes: int) -> tuple[int, int]:
    """(width, height) in pixels of the curves PNG for ``n_axes`` panels."""
    cols = min(n_axes, MAX_COLS)
    rows = math.ceil(n_axes / MAX_COLS)
    return round(cols * PANEL_W * DPI), round(rows * PANEL_H * DPI)


def _panel(ax, ts, real, eigval, index, *, sphere, radius, distance_name, first_col):
    """One axis: the real distance (solid) and the prediction (dashed), clipped to the real curve's range."""
    ax.plot(ts, real, color="C0", lw=1.8)
    ax.plot(ts, predicted_distance(eigval, ts, sphere=sphere, radius=radius), color="C3", lw=1.2, ls="--")
    ax.set_ylim(0, max(float(np.nanmax(real)), 1e-12) * 1.15)
    ax.set_xlim(ts[0], ts[-1])
    ax.set_title(f"axis {int(index)}  $\\lambda$={eigval:.3g}", fontsize=9)
    ax.set_xlabel("angle t (rad)" if sphere else "t (latent units)", fontsize=8)
    ax.tick_params(labelsize=7)
    if first_col:
        ax.set_ylabel(f"{distance_name} from G(z0)", fontsize=8)


def _legend_and_title(fig, axs, rows: int, cols: int, sphere: bool, title: str | None) -> float:
    """One legend for all panels in a band at the top, beside the wrapped title (under it when the figure is
    narrow), so that it covers no curve; returns the top of the panels' area (figure fraction)."""
    wide = cols >= 3
    height, width = rows * PANEL_H, cols * PANEL_W
    # about 15 characters per inch at 9 pt; on a wide figure the legend keeps 2.8 inches on the right
    lines = textwrap.wrap(title or "", width=int(15 * (width - 2.8 if wide else width))) or []
    title_h = 0.06 + 0.16 * len(lines)  # inches
    labels = ["real distance", r"prediction $\lambda (|z_0| t)^2/2$" if sphere else r"prediction $\lambda t^2/2$"]
    anchor = (1, 1) if wide else (0, 1 - title_h / height)
    fig.legend(axs[0][0].lines, labels, loc="upper right" if wide else "upper left", bbox_to_anchor=anchor, ncol=2,
               fontsize=8, frameon=False)
    if lines:
        fig.text(0.01, 1 - 0.06 / height, "\n".join(lines), ha="left", va="top", fontsize=9)
    band = max(title_h, 0.3) + 0.12 if wide else title_h + 0.42
    return 1 - band / height


def _curves_figure(ts, distances, eigvals, indices, *, sphere: bool, radius: float, distance_name: str,
                   title: str | None):
    """The figure of :func:`plot_distance_curves` (validated shapes), on its own Agg canvas."""
    ts = np.asarray(ts, dtype=np.float64).reshape(-1)
    distances = np.asarray(distances, dtype=np.float64)
    n = len(indices)
    if distances.shape != (n, len(ts)) or len(eigvals) != n or n == 0:
        raise InputError(f"distances must be (axes, amounts) = ({n}, {len(ts)}) with one eigenvalue per axis, "
                         f"got {distances.shape} and {len(eigvals)} eigenvalues", argument="distances")
    cols, rows = min(n, MAX_COLS), math.ceil(n / MAX_COLS)
    fig = figure(figsize=(cols * PANEL_W, rows * PANEL_H), dpi=DPI)
    axs = fig.subplots(rows, cols, squeeze=False)
    for a, i in enumerate(indices):
        _panel(axs[a // MAX_COLS][a % MAX_COLS], ts, distances[a], float(eigvals[a]), i, sphere=sphere,
               radius=radius, distance_name=distance_name, first_col=a % MAX_COLS == 0)
    for a in range(n, rows * cols):
        axs[a // MAX_COLS][a % MAX_COLS].axis("off")
    top = _legend_and_title(fig, axs, rows, cols, sphere, title)
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def plot_distance_curves(path, ts, distances, eigvals, indices, *, sphere: bool = False, radius: float = 1.0,
                         distance_name: str = "d", title: str | None = None) -> Path:
    """Write a PNG with one panel per axis: real distance vs t, and ``lambda s^2 / 2`` dashed.

    One legend for all panels sits in a band at the top, beside the title, so it covers no
    curve. Each panel's y range is the real curve's; the dashed prediction leaves the panel
    where it overshoots. The image is ``_curves_size(len(indices))`` pixels.

    Args:
        path: PNG to write (atomically); the name must end in ``.png``.
        ts: (T,) amounts (latent units; radians on the sphere).
        distances: (A, T) real distances (from :func:`~ganmetric.axes.distance_curves`).
        eigvals: (A,) the axes' eigenvalues.
        indices: (A,) axis indices (for the panel titles).
        sphere: the amounts are angles; the prediction uses the arc length ``radius * t``.
        radius: |z0| (sphere only).
        distance_name: y-axis label.
        title: figure title.

    Returns:
        The path written.

    Raises:
        InputError: a name not ending in .png, or shapes that do not match.
    """
    path = check_output(path, "curves", argument="path")
    fig = _curves_figure(ts, distances, eigvals, indices, sphere=sphere, radius=radius, distance_name=distance_name,
                         title=title)
    return save_figure(fig, path, dpi=DPI)  # no bbox="tight": the pixel size stays _curves_size()
