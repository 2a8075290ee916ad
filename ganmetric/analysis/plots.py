"""PNG figures for spectra and homogeneity (matplotlib, Agg backend, written atomically)."""
from __future__ import annotations

import io

import numpy as np

from ..io import atomic_write_bytes


def _figure():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> None:
    plt = _figure()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_spectrum(stats, path, *, title: str = "") -> None:
    """Mean spectrum with the 5-95 percentile band, linear and log scale, to a PNG."""
    plt = _figure()
    ranks = np.arange(1, len(stats.mean) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, log in zip(axes, (False, True)):
        ax.fill_between(ranks, stats.p5, stats.p95, alpha=0.3, label="5-95 percentile")
        ax.plot(ranks, stats.mean, lw=1.5, label="mean spectrum")
        ax.set_xlabel("eigenvalue rank")
        ax.set_ylabel("|eigenvalue|")
        if log:
            ax.set_yscale("log")
        ax.set_title(("log" if log else "linear") + " scale")
        ax.legend()
    fig.suptitle(title or f"{stats.spectra.shape[0]} points")
    _save(fig, path)


NAMES = {"corr_log": "log-scale consistency", "corr_linear": "linear-scale consistency",
         "corr_vec": "corr(vec H_i, vec H_j)"}


def plot_homogeneity_heatmap(h, path, *, title: str = "") -> None:
    """The three N x N correlation matrices as heatmaps."""
    plt = _figure()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), layout="constrained")
    for ax, key in zip(axes, NAMES):
        im = ax.imshow(getattr(h, key), vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
        ax.set_title(NAMES[key])
        ax.set_xlabel("j")
        ax.set_ylabel("i")
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle(title)
    _save(fig, path)


def plot_homogeneity_hist(h, path, *, title: str = "") -> None:
    """Histograms of the off-diagonal entries of the three matrices."""
    plt = _figure()
    N = h.corr_log.shape[0]
    off = ~np.eye(N, dtype=bool)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in NAMES:
        vals = getattr(h, key)[off]
        vals = vals[np.isfinite(vals)]
        ax.hist(vals, bins=50, range=(-1, 1), alpha=0.5, label=f"{NAMES[key]} (mean {vals.mean():.3f})"
                if vals.size else NAMES[key])
    ax.set_xlabel("correlation (off-diagonal pairs)")
    ax.set_ylabel("pairs")
    ax.legend()
    ax.set_title(title)
    _save(fig, path)
