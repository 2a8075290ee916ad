"""Distance-curve PNG: exact pixel size, not blank, a legend that covers no panel (backend: test_plotting.py)."""
from __future__ import annotations

import numpy as np
import torch
import pytest
from PIL import Image

import ganmetric
from ganmetric.axes import Axes, distance_curves, plot_distance_curves
from ganmetric.axes.curves import _curves_figure
from ganmetric.errors import InputError
from helpers import TinyConvGenerator


@pytest.fixture(scope="module")
def curves():
    G = TinyConvGenerator(n=6, res=16).double()
    rows = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 4)))[0].T
    axes = Axes(rows, np.array([4.0, 2.0, 1.0, 0.5]), G.name, "z", "mse", np.zeros((1, 6)), {})
    D = ganmetric.load_distance("mse", dtype="float64")
    ts = np.linspace(-3, 3, 13)
    return ts, distance_curves(G, D, G.sample(1, seed=3), axes, [0, 1, 2, 3, 0], ts), axes.eigvals[[0, 1, 2, 3, 0]]


def test_curves_png(curves, tmp_path):
    ts, d, eigvals = curves
    path = tmp_path / "curves.png"
    plot_distance_curves(path, ts, d, eigvals, [0, 1, 2, 3, 0], distance_name="mse")
    assert Image.open(path).size == (1280, 520)  # 4 panels of 320 x 260 px a row, two rows
    arr = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    assert arr.std() > 10 and len(np.unique(arr.reshape(-1, 3), axis=0)) > 50


@pytest.mark.parametrize("n", [1, 2, 4])
def test_legend_covers_no_panel(curves, n):
    ts, d, eigvals = curves
    fig = _curves_figure(ts, d[:n], eigvals[:n], list(range(n)), sphere=False, radius=1.0, distance_name="mse",
                         title="a title as long as the one explore writes, to check it collides with nothing")
    renderer = fig.canvas.get_renderer()
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 1
    legend = legends[0].get_window_extent(renderer)
    title = fig.texts[0].get_window_extent(renderer)
    for ax in fig.axes:
        panel = ax.get_tightbbox(renderer)  # the panel with its title, ticks and labels
        assert not legend.overlaps(panel) and not title.overlaps(panel)
    assert not legend.overlaps(title)


def test_only_png(curves, tmp_path):
    ts, d, eigvals = curves
    with pytest.raises(InputError, match="path is written as a PNG plot: its name must end in .png, got c.jpg"):
        plot_distance_curves(tmp_path / "c.jpg", ts, d, eigvals, [0, 1, 2, 3, 0])
    assert list(tmp_path.iterdir()) == []


def test_curves_with_a_layer_distance_read_the_generator_layers():
    """explore --curves/--calibrate with --distance layer:NAME: d compares the layer's activations, not images."""
    G = TinyConvGenerator(n=6, res=16).double()
    rows = np.linalg.qr(np.random.default_rng(1).standard_normal((6, 2)))[0].T
    axes = Axes(rows, np.array([2.0, 1.0]), G.name, "z", "layer:fc", np.zeros((1, 6)), {})
    D = ganmetric.load_distance("layer:fc", generator=G, dtype="float64")
    z0 = G.sample(1, seed=2)
    ts = np.array([-0.5, 0.0, 0.25])
    got = distance_curves(G, D, z0, axes, [0, 1], ts)
    want = [[float(((G.fc(z0 + t * torch.as_tensor(u)[None]) - G.fc(z0)) ** 2).mean()) for t in ts] for u in rows]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)  # the mean-square convention of mse
