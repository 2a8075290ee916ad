"""Figures of a compression: distance against k (the basis vs random subspaces), and a montage of projections."""
from __future__ import annotations

import numpy as np

from ..plotting import figure, save_figure, to_uint8
from .plots import DPI

#: the relative distance axis starts here (k = n reaches 0: rounding only)
FLOOR = 1e-4


def _title(comp, what: str) -> str:
    m = comp.meta
    return (f"{m.get('model')}: {what}\n{m.get('n_samples')} samples; distance: {m.get('distance')}; "
            f"basis: {m.get('basis', {}).get('basis')}; z0: {m.get('center')}")


def _means(comp, basis: str, fill: str) -> np.ndarray:
    by_k = {r["k"]: r["mean"] for r in comp.rows if r["basis"] == basis and r["fill"] == fill}
    return np.array([by_k[k] for k in comp.ks])


def plot_compression_curve(comp, path):
    """Mean distance d(G(z), G(z_k)) / its k = 0 value against k, one panel per fill.

    The basis is a line with markers; random bases are a band (the lowest to the highest of
    their means) around their pooled mean; 10% and 1% of the k = 0 distance are dashed. The
    k axis is symmetric-log (linear from 0 to 1, then logarithmic), so k = 0 is on it.

    Args:
        comp: :class:`~ganmetric.analysis.Compression`.
        path: the PNG to write.
    """
    fig = figure(figsize=(5.2 * len(comp.fills) + 1, 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(comp.fills), sharey=True))
    ks = np.array(comp.ks, dtype=float)
    top = 1.0
    randoms = sorted({r["basis"] for r in comp.rows if r["basis"].startswith("random-")})
    for ax, fill in zip(axes, comp.fills):
        d0 = _means(comp, comp.label, fill)[0]
        rel = lambda v: np.clip(v / d0, FLOOR, None)  # noqa: E731
        if randoms:
            each = np.stack([_means(comp, r, fill) for r in randoms])
            ax.fill_between(ks, rel(each.min(0)), rel(each.max(0)), color="C1", alpha=0.25,
                            label=f"random subspaces ({len(randoms)}): range")
            ax.plot(ks, rel(_means(comp, "random", fill)), "--", color="C1", label="random subspaces: mean")
        ax.plot(ks, rel(_means(comp, comp.label, fill)), "o-", color="C0", label=f"{comp.label} (first k directions)")
        top = max(top, float(np.max(rel(np.stack([_means(comp, b, fill) for b in [comp.label, *randoms]])))))
        for t, style in zip((0.1, 0.01), ("--", ":")):
            ax.axhline(t, color="grey", ls=style, lw=0.9, label=f"{t:g} of the k = 0 distance")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(0, ks[-1] * 1.15)
        ax.set_yscale("log")
        ax.set_xlabel("k (directions kept; symlog axis)")
        ax.set_title(f"fill {fill}" + (": z_k rescaled to |z - z0|" if fill == "norm" else ": plain projection"),
                     fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylim(FLOOR * 0.8, top * 1.4)  # shared: a norm fill can move the image more than k = 0 does
    axes[0].set_ylabel(f"mean d(G(z), G(z_k)) / mean at k = 0 (floor {FLOOR:g})")
    axes[-1].legend(fontsize=8, loc="lower left")
    fig.suptitle(_title(comp, "image change after projecting onto k directions"), fontsize=10)
    save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    return fig


def plot_compression_montage(comp, path):
    """Rows: samples; columns: their projections onto the first k directions for the listed k, then the original.

    Each projection is captioned with its distance to the original.

    Args:
        comp: :class:`~ganmetric.analysis.Compression` with images.
        path: the PNG to write.
    """
    images = comp.images
    rows, cols = images.shape[:2]
    fill = comp.meta.get("codes_fill")
    d = comp.distances[comp.label, fill]
    fig = figure(figsize=(1.25 * cols + 0.6, 1.45 * rows + 0.7), layout="constrained")
    grid = np.atleast_2d(fig.subplots(rows, cols))
    for r in range(rows):
        for c in range(cols):
            ax = grid[r, c]
            pix = to_uint8(images[r, c])
            ax.imshow(pix[..., 0] if pix.shape[-1] == 1 else pix, cmap="gray" if pix.shape[-1] == 1 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if c < cols - 1:
                k = comp.listed[c]
                ax.set_xlabel(f"d={d[comp.ks.index(k), r]:.3g}", fontsize=7)
                if r == 0:
                    ax.set_title(f"k = {k}", fontsize=8)
            elif r == 0:
                ax.set_title("original", fontsize=8)
        grid[r, 0].set_ylabel(f"sample {r}", fontsize=8)
    fig.suptitle(f"{comp.meta.get('model')}: projections onto the first k directions\nbasis: "
                 f"{comp.meta.get('basis', {}).get('basis')}; fill {fill}; z0: {comp.meta.get('center')}; "
                 f"d = {comp.meta.get('distance')} to the original", fontsize=9)
    save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    return fig
