"""Explore and action montages: files exist, exact pixel sizes, not blank, the reference in the middle."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import ganmetric
from ganmetric.axes import Axes, action_montage, calibrate_steps, explore_montage, grid_size, render_codes
from ganmetric.axes.montage import LABEL_W, PAD, TITLE_H
from ganmetric.errors import InputError
from helpers import TinyConvGenerator


@pytest.fixture(scope="module")
def setup():
    G = TinyConvGenerator(n=6, res=16).double()
    rows = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 4)))[0].T
    axes = Axes(rows, np.array([4.0, 2.0, 1.0, 0.5]), G.name, "z", "mse", np.zeros((1, 6)), {})
    return G, axes, G.sample(1, seed=3)


def _not_blank(path):
    arr = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    assert arr.std() > 10 and len(np.unique(arr.reshape(-1, 3), axis=0)) > 50
    return arr


def test_explore_montage(setup, tmp_path):
    G, axes, z0 = setup
    mont = explore_montage(G, z0, axes, indices=[0, 2, 3], steps=5, amount_range=2.0, scale=2)
    path = tmp_path / "grid.png"
    mont.save(path)
    assert Image.open(path).size == grid_size(3, 5, 32) == (LABEL_W + 5 * 34 + PAD, TITLE_H + 3 * (32 + 13 + 2) + 2)
    arr = _not_blank(path)
    np.testing.assert_allclose(mont.steps, np.tile(np.linspace(-2, 2, 5), (3, 1)))
    np.testing.assert_allclose(mont.codes[:, 2], np.tile(z0.numpy(), (3, 1)))  # reference in the middle column
    # the middle tile of every row is the reference image (nearest-neighbour upscaled x2)
    ref = (np.clip((render_codes(G, z0)[0].numpy() + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
           .transpose(1, 2, 0).repeat(2, 0).repeat(2, 1))
    for r in range(3):
        y, x = TITLE_H + r * (32 + 13 + 2), LABEL_W + PAD + 2 * 34
        np.testing.assert_array_equal(arr[y:y + 32, x:x + 32], ref)


def test_calibrated_sphere_montage_and_action(setup, tmp_path):
    G, axes, z0 = setup
    D = ganmetric.load_distance("mse", dtype="float64")
    cal = calibrate_steps(G, D, z0, axes, indices=[0, 1], max_distance=0.02, n_targets=2, sphere=True)
    mont = explore_montage(G, z0, axes, indices=[0, 1], sphere=True, calibrated=cal)
    mont.save(tmp_path / "cal.png")
    assert Image.open(tmp_path / "cal.png").size == grid_size(2, 5, 16, caption_lines=2)
    _not_blank(tmp_path / "cal.png")
    norms = np.linalg.norm(mont.codes, axis=-1)
    np.testing.assert_allclose(norms, np.linalg.norm(z0.numpy()), rtol=1e-14)
    act = action_montage(G, G.sample(3, seed=1), axes, 1, steps=3, amount_range=1.0, row_labels=["a", "b", "c"])
    act.save(tmp_path / "action.png")
    assert Image.open(tmp_path / "action.png").size == grid_size(3, 3, 16)
    _not_blank(tmp_path / "action.png")
    with pytest.raises(InputError, match="calibrated steps are for axes"):
        explore_montage(G, z0, axes, indices=[0, 2], calibrated=cal)


def test_bad_steps(setup):
    G, axes, z0 = setup
    with pytest.raises(InputError, match="odd number >= 3"):
        explore_montage(G, z0, axes, indices=[0], steps=4)
    with pytest.raises(InputError, match="range must be a positive finite number"):
        explore_montage(G, z0, axes, indices=[0], amount_range=float("nan"))
    with pytest.raises(InputError, match="axis index 9 is out of range"):
        explore_montage(G, z0, axes, indices=[9])
