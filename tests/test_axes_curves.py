"""Distance-curve PNG: exact pixel size, not blank."""
from __future__ import annotations

import numpy as np
from PIL import Image

import ganmetric
from ganmetric.axes import Axes, curves_size, distance_curves, plot_distance_curves
from helpers import TinyConvGenerator


def test_curves_png(tmp_path):
    G = TinyConvGenerator(n=6, res=16).double()
    rows = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 4)))[0].T
    axes = Axes(rows, np.array([4.0, 2.0, 1.0, 0.5]), G.name, "z", "mse", np.zeros((1, 6)), {})
    z0 = G.sample(1, seed=3)
    D = ganmetric.load_distance("mse", dtype="float64")
    ts = np.linspace(-3, 3, 13)
    d = distance_curves(G, D, z0, axes, [0, 1, 2, 3, 0], ts)
    path = tmp_path / "curves.png"
    plot_distance_curves(path, ts, d, axes.eigvals[[0, 1, 2, 3, 0]], [0, 1, 2, 3, 0], distance_name="mse")
    assert Image.open(path).size == curves_size(5) == (1280, 520)
    arr = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    assert arr.std() > 10 and len(np.unique(arr.reshape(-1, 3), axis=0)) > 50
