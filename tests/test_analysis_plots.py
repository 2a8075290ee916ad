"""The analysis figures: what they say (titles, labels, legends, ticks); matplotlib left alone: test_plotting.py."""
import numpy as np
from matplotlib.collections import PolyCollection

from ganmetric.analysis import (homogeneity, load_results, plot_homogeneity_heatmap, plot_homogeneity_hist,
                                plot_spectrum, spectrum_stats)
from helpers_analysis import fake_result

DECADES = [0.9, 0.09, 0.009, 0.0009, 0.00009, 0.00001]


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_one_point_spectrum_says_so_and_draws_no_band(tmp_path):
    fake_result(tmp_path / "a.npz", DECADES)
    fig = plot_spectrum(spectrum_stats(load_results(tmp_path / "a.npz")), tmp_path / "s.png")
    assert fig.get_suptitle() == "1 point"
    left = fig.axes[0]
    assert not [c for c in left.collections if isinstance(c, PolyCollection)]
    assert "1 point: no percentile band" in _legend(left)


def test_spectrum_panels(tmp_path):
    for s in range(3):
        fake_result(tmp_path / f"p{s}.npz", np.array(DECADES) * (s + 1), seed=s)
    st = spectrum_stats(load_results(tmp_path))
    fig = plot_spectrum(st, tmp_path / "s.png")
    left, right = fig.axes
    assert fig.get_suptitle() == "3 points"
    assert left.get_yscale() == "log" and [c for c in left.collections if isinstance(c, PolyCollection)]
    assert "5-95 percentile over points" in _legend(left)
    # the cumulative panel marks every threshold with the mean spectrum's count: 2, 3, 4, 5
    assert [t for t in _legend(right) if "reached" in t] == \
        ["0.99 reached at m = 2", "0.999 reached at m = 3", "0.9999 reached at m = 4", "0.99999 reached at m = 5"]
    assert right.get_yscale() == "log" and "cumulative fraction" in right.get_ylabel()
    labels = [t.get_text() for t in right.get_yticklabels()]
    assert labels[:3] == ["0", "0.9", "0.99"]


def test_heatmap_says_what_rows_and_columns_are(tmp_path):
    for s in range(7):
        fake_result(tmp_path / f"p{s}.npz", [3.0, 2.0, 1.0], seed=s)
    h = homogeneity(load_results(tmp_path))
    fig = plot_homogeneity_heatmap(h, tmp_path / "h.png")
    log, lin, vec = fig.axes[:3]
    for ax in (log, lin):
        assert ax.get_ylabel() == "eigenvectors of point i" and ax.get_xlabel() == "metric of point j"
    assert vec.get_ylabel() == "point i" and "corr(vec H_i, vec H_j)" in vec.get_title()
    for ax in (log, lin, vec):
        for ticks in (ax.get_xticks(), ax.get_yticks()):
            assert np.allclose(ticks, np.round(ticks)), ticks            # integer point indices only
    fig = plot_homogeneity_hist(h, tmp_path / "g.png")
    assert fig.axes[0].get_title() == "homogeneity over 7 points"


