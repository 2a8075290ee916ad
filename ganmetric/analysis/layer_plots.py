"""Figures of a layers table: the layers' normalised spectra, and anisotropy and alignment against depth."""
from __future__ import annotations

import numpy as np

from ..plotting import figure, save_figure
from .plots import DPI, points_label

IMAGE_COLOUR = "black"


def _title(table, what: str) -> str:
    m = table.meta
    return (f"{m.get('model')}: {what} ({points_label(m.get('n_points', 0))}, method "
            f"{m.get('resolved_method') or m.get('method')}; image distance {m.get('distance')})")


def _layer_colours(n: int) -> list:
    """One colour per layer from early (dark purple) to deep (yellow): viridis."""
    from matplotlib import colormaps
    cmap = colormaps["viridis"]
    return [cmap(x) for x in (np.linspace(0.0, 0.9, n) if n > 1 else [0.0])]


def plot_layer_spectra(table, path):
    """Mean normalised spectrum (lambda_i / lambda_1, log) of every layer, coloured by depth; the image's in black.

    Args:
        table: :class:`~ganmetric.analysis.LayerMetrics`.
        path: the PNG to write.

    Returns:
        The matplotlib Figure written.
    """
    layers = [r["layer"] for r in table.rows if r["layer"] != "image"]
    fig = figure(figsize=(9.5, 4.8), layout="constrained")
    ax = fig.subplots()
    s = table.spectra["image"]  # drawn first and wide: a layer with the same spectrum stays visible on top of it
    ax.plot(np.arange(1, len(s) + 1), np.where(s > 0, s, np.nan), color=IMAGE_COLOUR, lw=3.0,
            label=f"image ({table.meta.get('distance')})")
    for name, colour in zip(layers, _layer_colours(len(layers))):
        s = table.spectra[name]
        ax.plot(np.arange(1, len(s) + 1), np.where(s > 0, s, np.nan), color=colour, lw=1.3, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue rank")
    ax.set_ylabel("mean of λ_i / λ_1 over points (log scale)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="layer (forward order)",
              title_fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(_title(table, "normalised spectrum per layer"), fontsize=10)
    save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    return fig


def plot_layer_summary(table, path):
    """Anisotropy counts (0.99, 0.999) and the alignment with the image metric against depth.

    Left: the mean spectrum's counts per layer, the image metric's as dashed lines. Right:
    ``align_k`` per layer with the random baseline k/n dotted.

    Args:
        table: :class:`~ganmetric.analysis.LayerMetrics`.
        path: the PNG to write.

    Returns:
        The matplotlib Figure written.
    """
    rows = [r for r in table.rows if r["layer"] != "image"]
    image = next(r for r in table.rows if r["layer"] == "image")
    x = np.arange(len(rows))
    names = [r["layer"] for r in rows]
    fig = figure(figsize=(max(9.0, 0.55 * len(rows) + 5), 5.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    for j, (key, fraction) in enumerate((("n99", 0.99), ("n999", 0.999))):
        vals = np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)
        left.plot(x, vals, "o-", color=f"C{j}", label=f"layer, {fraction:g} of the trace")
        if image[key] is not None:
            left.axhline(image[key], color=f"C{j}", ls="--", lw=1, label=f"image metric, {image[key]}")
    left.set_ylabel("eigen-directions holding the fraction of the trace")
    left.set_title("anisotropy (mean spectrum)", fontsize=10)
    left.set_ylim(0, table.dim * 1.05)
    for j, k in enumerate(table.alignment_ks):
        vals = np.array([r[f"align_k{k}"] for r in rows], dtype=float)
        right.plot(x, vals, "o-", color=f"C{j + 2}", label=f"k = {k}")
        right.axhline(k / table.dim, color=f"C{j + 2}", ls=":", lw=1.2, label=f"random, k/n = {k / table.dim:.2f}")
    right.set_ylim(0, 1.05)
    right.set_ylabel("mean ||U_layer,k^T U_image,k||²_F / k")
    right.set_title("top-k eigenspace vs the image metric's", fontsize=10)
    for ax in (left, right):
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
        ax.set_xlabel("layer (forward order)")
        ax.grid(True, alpha=0.3)
        # below the panel: inside, it would cover a baseline or a layer's point
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
    fig.suptitle(_title(table, "anisotropy and alignment against depth"), fontsize=10)
    save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    return fig
