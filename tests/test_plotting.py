"""ganmetric.plotting: every figure is drawn without pyplot, so a user's matplotlib backend and pyplot state survive.

One fresh interpreter (pyplot must not be imported yet) draws the analysis figures and the axes' distance curves,
the two families of figures built on ``plotting.figure``; the inversion's plots are checked in-process in
test_inversion_invert.py.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import subprocess_env
from helpers_analysis import fake_result

DECADES = [0.9, 0.09, 0.009, 0.0009, 0.00009, 0.00001]


@pytest.mark.slow  # a fresh interpreter imports torch: ~8 s on 2 shared cores
def test_drawing_every_figure_leaves_the_users_backend_and_pyplot_alone(tmp_path):
    fake_result(tmp_path / "a.npz", DECADES, seed=0)
    fake_result(tmp_path / "b.npz", DECADES, seed=1)
    script = f"""
import sys
import matplotlib
matplotlib.use("svg")
import numpy as np
import ganmetric
from ganmetric import analysis
from ganmetric.axes import plot_distance_curves
rs = analysis.load_results({str(tmp_path)!r})
analysis.plot_spectrum(analysis.spectrum_stats(rs), {str(tmp_path / 's.png')!r})
h = analysis.homogeneity(rs)
analysis.plot_homogeneity_heatmap(h, {str(tmp_path / 'h.png')!r})
analysis.plot_homogeneity_hist(h, {str(tmp_path / 'g.png')!r})
c = analysis.compare_metrics({str(tmp_path / 'a.npz')!r}, {str(tmp_path / 'b.npz')!r}, k=3)
analysis.plot_comparison(c, {str(tmp_path / 'c.png')!r})
plot_distance_curves({str(tmp_path / 'd.png')!r}, np.linspace(-1, 1, 5), np.ones((1, 5)), [1.0], [0])
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    p = subprocess.run([sys.executable, "-c", script], env=subprocess_env(), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["svg", "False"]
    for name in "shgcd":
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
