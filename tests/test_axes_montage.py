"""Explore and action montages: exact pixel sizes, not blank, the reference in the middle, one rounding rule,
file formats by suffix, marked unreached targets, validated scale."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ganmetric
from ganmetric.axes import Axes, action_montage, calibrate_steps, explore_montage, render_images
from ganmetric.axes.montage import LABEL_W, MARK_COLOUR, PAD
from ganmetric.errors import InputError
from ganmetric.generators.base import Generator
from ganmetric.plotting import to_uint8
from helpers import TinyConvGenerator, montage_layout

TITLE_H = 5 + 13  # one title line


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
    assert Image.open(path).size == montage_layout(3, 5, 32) == (LABEL_W + 5 * 34 + PAD, TITLE_H + 3 * (32 + 13 + 2) + 2)
    arr = _not_blank(path)
    np.testing.assert_allclose(mont.steps, np.tile(np.linspace(-2, 2, 5), (3, 1)))
    np.testing.assert_allclose(mont.codes[:, 2], np.tile(z0.numpy(), (3, 1)))  # reference in the middle column
    # the middle tile of every row is the reference image (nearest-neighbour upscaled x2); the montage renders
    # it in a batch of 15, this in a batch of 1, so a pixel may differ by one grey level
    ref = np.asarray(render_images(G, z0)[0]).repeat(2, 0).repeat(2, 1).astype(float)
    for r in range(3):
        y, x = TITLE_H + r * (32 + 13 + 2), LABEL_W + PAD + 2 * 34
        np.testing.assert_allclose(arr[y:y + 32, x:x + 32], ref, atol=1)


class _Flat(Generator):
    """Every code gives the same flat image of one value (to test the pixel rounding rule)."""

    def __init__(self, value):
        super().__init__(name="flat", latent_dim=2, resolution=4)
        self.value = value
        self.register_buffer("dummy", torch.zeros(1, dtype=torch.float64))

    def _generate(self, z):
        return torch.full((z.shape[0], 3, 4, 4), self.value, dtype=z.dtype) + 0 * z.sum()


def test_pixels_follow_the_one_rounding_rule():
    """(x + 1) 127.5 just below 32.5 is pixel 32 by plotting.to_uint8 (the old montage rule gave 33)."""
    value = np.nextafter(32.5, 0) / 127.5 - 1
    G = _Flat(value)
    axes = Axes(np.eye(2), np.ones(2), "flat", "z", "mse", np.zeros((1, 2)), {})
    mont = explore_montage(G, np.ones(2), axes, indices=[0], steps=3, title="t")
    tile = np.asarray(mont.image)[TITLE_H:TITLE_H + 4, LABEL_W + PAD:LABEL_W + PAD + 4]
    assert to_uint8(np.full((3, 1, 1), value))[0, 0, 0] == 32
    assert np.all(tile == 32)
    assert np.all(np.asarray(render_images(G, np.ones(2))[0]) == 32)


def test_calibrated_sphere_montage_and_action(setup, tmp_path):
    G, axes, z0 = setup
    D = ganmetric.load_distance("mse", dtype="float64")
    cal = calibrate_steps(G, D, z0, axes, indices=[0, 1], max_distance=0.02, n_targets=2, sphere=True)
    assert cal.reached.all()
    mont = explore_montage(G, z0, axes, indices=[0, 1], sphere=True, calibrated=cal, title="one line")
    mont.save(tmp_path / "cal.png")
    assert Image.open(tmp_path / "cal.png").size == montage_layout(2, 5, 16, caption_lines=2)
    _not_blank(tmp_path / "cal.png")
    assert not np.any(np.all(np.asarray(mont.image) == MARK_COLOUR, axis=-1))  # nothing marked
    norms = np.linalg.norm(mont.codes, axis=-1)
    np.testing.assert_allclose(norms, np.linalg.norm(z0.numpy()), rtol=1e-14)
    act = action_montage(G, G.sample(3, seed=1), axes, 1, steps=3, amount_range=1.0, row_labels=["a", "b", "c"],
                         title="one line")
    act.save(tmp_path / "action.png")
    assert Image.open(tmp_path / "action.png").size == montage_layout(3, 3, 16)
    _not_blank(tmp_path / "action.png")
    with pytest.raises(InputError, match="calibrated steps are for axes"):
        explore_montage(G, z0, axes, indices=[0, 2], calibrated=cal)


def test_unreached_targets_are_marked(setup):
    """mse of tanh images stays below 4: targets up to 100 are unreachable; the cells are framed in red."""
    G, axes, z0 = setup
    D = ganmetric.load_distance("mse", dtype="float64")
    cal = calibrate_steps(G, D, z0, axes, indices=[0], max_distance=100.0, n_targets=1, max_iter=3)
    assert cal.reached.tolist() == [[False, True, False]]
    mont = explore_montage(G, z0, axes, indices=[0], calibrated=cal)
    img = np.asarray(mont.image)
    assert img.shape[:2][::-1] == mont.image.size
    y = img.shape[0] - PAD - (16 + 2 * 13 + PAD)  # the top of the one row of 16 px cells (2 caption lines)
    for c, marked in enumerate([True, False, True]):
        x = LABEL_W + PAD + c * (16 + PAD)
        frame = img[y:y + 16, x]  # the cell's left edge
        assert np.all(frame == MARK_COLOUR) == marked
    np.testing.assert_allclose(mont.distances, cal.distances)


def test_action_montage_says_where_its_steps_come_from_and_measures_each_cell(setup):
    G, axes, z0 = setup
    D = ganmetric.load_distance("mse", dtype="float64")
    codes = G.sample(2, seed=5)
    act = action_montage(G, codes, axes, 0, ts=[-0.5, 0.0, 0.5], D=D, steps_note="steps calibrated at seed 0")
    with torch.no_grad():
        for r in range(2):
            want = D(G(codes[r:r + 1]), G(torch.as_tensor(act.codes[r]))).numpy()
            np.testing.assert_allclose(act.distances[r], want, rtol=1e-12, atol=1e-15)
    assert act.distances[:, 1].max() < 1e-25  # t = 0: the row's own image (rendered in another batch: rounding)


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8\xff"), (".JPEG", b"\xff\xd8\xff")])
def test_saved_in_the_format_the_suffix_names(setup, tmp_path, suffix, magic):
    G, axes, z0 = setup
    path = tmp_path / f"grid{suffix}"
    explore_montage(G, z0, axes, indices=[0], steps=3).save(path)
    assert path.read_bytes()[:len(magic)] == magic


def test_other_suffixes_are_refused(setup, tmp_path):
    G, axes, z0 = setup
    mont = explore_montage(G, z0, axes, indices=[0], steps=3)
    with pytest.raises(InputError, match=r"path is written as an image .*must end in .png or .jpg or .jpeg, got "
                                         r"grid.npz"):
        mont.save(tmp_path / "grid.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scale, match", [(0, "scale must be at least 1, got 0"), (1.5, "scale must be an integer"),
                                          (True, "scale must be an integer")])
def test_scale_is_validated(setup, scale, match):
    G, axes, z0 = setup
    with pytest.raises(InputError, match=match):
        explore_montage(G, z0, axes, indices=[0], scale=scale)
    with pytest.raises(InputError, match=match):
        action_montage(G, z0, axes, 0, scale=scale)
    with pytest.raises(InputError, match=match):
        render_images(G, z0, scale=scale)


def test_render_images_upscales_by_nearest_neighbour(setup):
    G, axes, z0 = setup
    small, big = render_images(G, z0)[0], render_images(G, z0, scale=3)[0]
    assert small.size == (16, 16) and big.size == (48, 48)
    np.testing.assert_array_equal(np.asarray(big), np.asarray(small).repeat(3, 0).repeat(3, 1))  # copied pixels


def test_long_titles_wrap_to_the_montage_width(setup):
    G, axes, z0 = setup
    act = action_montage(G, z0, axes, 0, steps=3, steps_note="steps calibrated to d<=0.05 at the axes' source "
                                                             "point (the explore reference)")
    width, height = act.image.size
    lines = 1
    while montage_layout(1, 3, 16, 1, lines)[1] < height:
        lines += 1
    assert lines >= 3 and (width, height) == montage_layout(1, 3, 16, 1, lines)


def test_bad_steps(setup):
    G, axes, z0 = setup
    with pytest.raises(InputError, match="odd number >= 3"):
        explore_montage(G, z0, axes, indices=[0], steps=4)
    with pytest.raises(InputError, match="amount_range must be a finite number"):
        explore_montage(G, z0, axes, indices=[0], amount_range=float("nan"))
    with pytest.raises(InputError, match="axis index 9 is out of range"):
        explore_montage(G, z0, axes, indices=[9])
