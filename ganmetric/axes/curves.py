"""Distance-curve plots: the real distance along axes against the metric's quadratic prediction."""
from __future__ import annotations

import io
import math

import numpy as np

from ..io import atomic_write_bytes
from .calibrate import predicted_distance

#: panel size in inches and the resolution: each panel is PANEL_W*DPI x PANEL_H*DPI pixels.
PANEL_W, PANEL_H, DPI = 3.2, 2.6, 100
MAX_COLS = 4


def curves_size(n_axes: int) -> tuple[int, int]:
    """(width, height) in pixels of the curves PNG for ``n_axes`` panels."""
    cols = min(n_axes, MAX_COLS)
    rows = math.ceil(n_axes / MAX_COLS)
    return round(cols * PANEL_W * DPI), round(rows * PANEL_H * DPI)


def plot_distance_curves(path, ts, distances, eigvals, indices, *, sphere: bool = False, radius: float = 1.0,
                         distance_name: str = "d", title: str | None = None) -> None:
    """Write a PNG with one panel per axis: real distance vs t, and ``lambda s^2 / 2`` dashed.

    Args:
        path: PNG to write (atomically).
        ts: (T,) amounts (latent units; radians on the sphere).
        distances: (A, T) real distances (from :func:`~ganmetric.axes.distance_curves`).
        eigvals: (A,) the axes' eigenvalues.
        indices: (A,) axis indices (for the panel titles).
        sphere: the amounts are angles; the prediction uses the arc length ``radius * t``.
        radius: |z0| (sphere only).
        distance_name: y-axis label.
        title: figure title.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = np.asarray(ts, dtype=np.float64)
    distances = np.asarray(distances, dtype=np.float64)
    n = len(indices)
    cols, rows = min(n, MAX_COLS), math.ceil(n / MAX_COLS)
    fig, axs = plt.subplots(rows, cols, figsize=(cols * PANEL_W, rows * PANEL_H), dpi=DPI, squeeze=False)
    for a, i in enumerate(indices):
        ax = axs[a // MAX_COLS][a % MAX_COLS]
        pred = predicted_distance(eigvals[a], ts, sphere=sphere, radius=radius)
        ax.plot(ts, distances[a], color="C0", lw=1.8, label="real")
        ax.plot(ts, pred, color="C3", lw=1.2, ls="--",
                label=r"$\lambda (|z_0| t)^2/2$" if sphere else r"$\lambda t^2/2$")
        top = max(float(np.nanmax(distances[a])), 1e-12) * 1.15
        ax.set_ylim(0, top)
        ax.set_title(f"axis {int(i)}  $\\lambda$={eigvals[a]:.3g}", fontsize=9)
        ax.set_xlabel("angle t (rad)" if sphere else "t", fontsize=8)
        ax.tick_params(labelsize=7)
        if a % MAX_COLS == 0:
            ax.set_ylabel(distance_name, fontsize=8)
        if a == 0:
            ax.legend(fontsize=7, loc="upper center")
    for a in range(n, rows * cols):
        axs[a // MAX_COLS][a % MAX_COLS].axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # no bbox="tight": the pixel size stays curves_size()
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
