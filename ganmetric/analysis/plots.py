"""PNG figures of spectra, homogeneity and pairwise comparisons (drawn with :mod:`ganmetric.plotting`).

Every figure is a matplotlib ``Figure`` on its own Agg canvas (no pyplot, no backend
switch) written atomically.
"""
from __future__ import annotations

import numpy as np

from ..plotting import figure, save_figure

DPI = 120
NAMES = {"corr_log": "log-scale consistency", "corr_linear": "linear-scale consistency",
         "corr_vec": "corr(vec H_i, vec H_j)"}
FORMULAS = {"corr_log": "corr_k(log vHv_ij[k], log λ_j[k])", "corr_linear": "corr_k(vHv_ij[k], λ_j[k])",
            "corr_vec": "symmetric in i and j"}


def points_label(n: int) -> str:
    """``"1 point"``, ``"12 points"``."""
    return f"{n} point" if n == 1 else f"{n} points"


def _integer_ticks(*axes) -> None:
    from matplotlib.ticker import MaxNLocator
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _positive(values: np.ndarray) -> np.ndarray:
    """Values for a log axis: non-positive entries become NaN (not drawn) instead of a warning or a spike."""
    return np.where(values > 0, values, np.nan)


def _spectrum_panel(ax, stats) -> None:
    ranks = np.arange(1, len(stats.mean) + 1)
    n_points = stats.spectra.shape[0]
    if n_points > 1:
        ax.fill_between(ranks, _positive(stats.p5), _positive(stats.p95), alpha=0.3,
                        label="5-95 percentile over points")
    ax.plot(ranks, _positive(stats.mean), lw=1.5, label="mean spectrum" if n_points > 1 else "spectrum")
    if n_points == 1:
        ax.plot([], [], " ", label="1 point: no percentile band")
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue rank (by |λ|)")
    ax.set_ylabel("|eigenvalue| (log scale)")
    ax.set_title("spectrum")
    ax.legend(loc="upper right")
    _integer_ticks(ax)


def _cumulative_panel(ax, stats) -> None:
    """Cumulative fraction F(m) of the total, drawn as 1 - F(m) on an inverted log axis and labelled as F."""
    from matplotlib.ticker import FixedLocator, NullLocator
    ranks = np.arange(1, len(stats.mean) + 1)
    rest = 1.0 - np.cumsum(stats.mean) / stats.mean.sum()
    top = max(stats.thresholds)
    decades = int(np.ceil(-np.log10(1.0 - top) - 1e-9)) + 1 if top < 1 else 6   # one decade past the last one
    floor = 10.0 ** -decades
    which = "mean spectrum" if stats.spectra.shape[0] > 1 else "spectrum"
    ax.plot(ranks, np.where(rest > floor, rest, np.nan), lw=1.5, color="C0", label=f"cumulative fraction ({which})")
    for j, (t, c) in enumerate(zip(stats.thresholds, stats.mean_counts)):
        y = max(1.0 - t, floor)
        ax.axhline(y, color=f"C{j + 1}", ls="--", lw=0.8)
        ax.plot([c], [y], "o", color=f"C{j + 1}", label=f"{t:g} reached at m = {c}")  # the mean spectrum's count
    ax.set_yscale("log")
    ax.set_ylim(1.0, floor)                                          # inverted: the curve rises to the right
    ticks = 10.0 ** -np.arange(0, decades + 1)
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_yticklabels(["0"] + [f"{1 - v:.{j}f}" for j, v in enumerate(ticks[1:], start=1)])
    ax.set_xlabel("m (leading eigenvalues)")
    total = "Σ|λ|" if stats.full else "the sum of the stored top-k |λ|"
    ax.set_ylabel(f"cumulative fraction of {total}")
    ax.set_title("anisotropy: fraction held by the first m")
    ax.legend(loc="upper left")  # the curve runs from the lower left to the upper right: keep the dots clear
    _integer_ticks(ax)


def plot_spectrum(stats, path, *, title: str = ""):
    """Spectrum (log scale, 5-95 percentile band over points) and its cumulative fraction with the thresholds.

    Args:
        stats: :class:`~ganmetric.analysis.SpectrumStats`.
        path: the PNG to write.
        title: figure title (default: the number of points).

    Returns:
        The matplotlib Figure written (no pyplot state: display it in a notebook or discard it).
    """
    fig = figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    _spectrum_panel(left, stats)
    _cumulative_panel(right, stats)
    fig.suptitle(title or points_label(stats.spectra.shape[0]))
    save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    return fig


def plot_homogeneity_heatmap(h, path, *, title: str = ""):
    """The three N x N correlation matrices as heatmaps: rows are eigenvector sources i, columns metrics j.

    Args:
        h: a :class:`~ganmetric.analysis.Homogeneity`.
        path: the PNG to write.
        title: a title above the heatmaps.

    Returns:
        The matplotlib Figure written.
    """
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator
    cmap = colormaps["RdBu_r"].with_extremes(bad="0.8")
    fig = figure(figsize=(16, 5.8), layout="constrained")
    undefined = False
    for ax, key in zip(fig.subplots(1, 3), NAMES):
        values = getattr(h, key)
        undefined |= bool(np.isnan(values).any())
        im = ax.imshow(values, vmin=-1, vmax=1, cmap=cmap, interpolation="nearest")
        ax.set_title(f"{NAMES[key]}\n{FORMULAS[key]}")
        ax.set_ylabel("point i" if key == "corr_vec" else "eigenvectors of point i")
        ax.set_xlabel("point j" if key == "corr_vec" else "metric of point j")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.colorbar(im, ax=ax, shrink=0.85, label="correlation")
    note = "vHv_ij[k] = u_k(i)ᵀ H_j u_k(i): eigenvectors of point i under the metric of point j"
    note += "; grey: undefined" if undefined else ""
    fig.suptitle(f"{title}\n{note}" if title else note)
    save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    return fig


def plot_homogeneity_hist(h, path, *, title: str = ""):
    """Histograms of the off-diagonal entries (i != j) of the three matrices.

    Args:
        h: a :class:`~ganmetric.analysis.Homogeneity`.
        path: the PNG to write.
        title: a title above the histograms.

    Returns:
        The matplotlib Figure written.
    """
    N = h.corr_log.shape[0]
    off = ~np.eye(N, dtype=bool)
    fig = figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for key in NAMES:
        vals = getattr(h, key)[off]
        vals = vals[np.isfinite(vals)]
        label = f"{NAMES[key]} (mean {vals.mean():.3f})" if vals.size else f"{NAMES[key]} (undefined)"
        ax.hist(vals, bins=50, range=(-1, 1), alpha=0.5, label=label)
    ax.set_xlabel("correlation")
    ax.set_ylabel("ordered pairs (i, j), i ≠ j")
    ax.legend(loc="upper left")
    ax.set_title(title or f"homogeneity over {points_label(N)}")
    save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    return fig


def plot_comparison(cmp, path, *, title: str = ""):
    """Two metrics: both spectra overlaid, the principal angles, and the cross quotients over eigenvalues.

    Args:
        cmp: :class:`~ganmetric.analysis.MetricComparison`.
        path: the PNG to write.
        title: figure title (default: the two files with their distances and methods).

    Returns:
        The matplotlib Figure written.
    """
    labels = [f"{'AB'[i]}: {cmp.names[i]} ({cmp.metas[i].get('distance')}, {cmp.metas[i].get('method')})"
              for i in (0, 1)]
    fig = figure(figsize=(15, 4.4), layout="constrained")
    spec, ang, rat = fig.subplots(1, 3)
    for vals, label in zip((cmp.eigvals_a, cmp.eigvals_b), labels):
        spec.plot(np.arange(1, len(vals) + 1), _positive(np.abs(vals)), lw=1.5, label=label)
    spec.axvline(cmp.k, color="0.5", ls=":", lw=1, label=f"k = {cmp.k} (compared)")
    spec.set(yscale="log", xlabel="eigenvalue rank", ylabel="|eigenvalue| (log scale)", title="spectra")
    spec.legend(loc="upper right")
    idx = np.arange(1, cmp.k + 1)
    ang.plot(idx, cmp.angles_deg, "o-", ms=3)
    ang.set(ylim=(0, 90), xlabel="i (smallest angle first)", ylabel="degrees",
            title=f"principal angles between the top-{cmp.k} eigenspaces")
    ang.set_yticks([0, 15, 30, 45, 60, 75, 90])
    _ratio_panel(rat, cmp, np.arange(1, cmp.n_ranks + 1))
    _integer_ticks(spec, ang, rat)
    fig.suptitle(title or "   vs   ".join(labels))
    save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    return fig


def _ratio_panel(ax, cmp, idx) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ms = 3 if len(idx) <= 30 else 0                                   # markers only where they can be told apart
    ax.plot(idx, _positive(cmp.ratio_ab), "o-", ms=ms, label="u_i(A)ᵀ H_B u_i(A) / λ_i(B)")
    ax.plot(idx, _positive(cmp.ratio_ba), "s-", ms=ms, label="u_i(B)ᵀ H_A u_i(B) / λ_i(A)")
    ax.axhline(1.0, color="0.5", ls=":", lw=1)
    ax.set(yscale="log", xlabel="eigenvalue rank i", ylabel="ratio (log scale; 1: same eigenpair)",
           title="one metric along the other's eigenvectors")
    finite = np.concatenate([_positive(cmp.ratio_ab), _positive(cmp.ratio_ba)])
    finite = finite[np.isfinite(finite)]
    if finite.size:  # at least 0.5 to 2, so that ratios within rounding of 1 read as 1, not as a wiggle
        ax.set_ylim(min(0.5, finite.min() / 1.2), max(2.0, finite.max() * 1.2))
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(loc="best")
