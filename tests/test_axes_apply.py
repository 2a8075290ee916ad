"""apply_axis: exact linear arithmetic, rotation on the sphere (norm kept, angle t), bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganmetric.axes import apply_axis, walk
from ganmetric.errors import InputError


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    return np.linalg.qr(rng.standard_normal((7, 3)))[0].T  # (3, 7) orthonormal rows


def test_linear_is_exact(rows):
    """z + t u to rounding. axis_vector() renormalises u, and u / |u| differs from a unit row by a few ulp,
    so each entry agrees with z + t u to a few ulp of |z| + |t| (atol below: 4 eps (max|z| + |t|))."""
    eps = np.finfo(np.float64).eps
    z = np.random.default_rng(1).standard_normal((4, 7))
    out = apply_axis(z, rows, 2, 1.75)
    assert isinstance(out, np.ndarray) and out.shape == (4, 7)
    np.testing.assert_allclose(out, z + 1.75 * rows[2], rtol=0, atol=4 * eps * (np.abs(z).max() + 1.75))
    single = apply_axis(torch.as_tensor(z[0]), rows, 0, -0.5)
    assert isinstance(single, torch.Tensor) and single.shape == (7,) and single.dtype == torch.float64
    np.testing.assert_allclose(single.numpy(), z[0] - 0.5 * rows[0], rtol=0, atol=4 * eps * (np.abs(z).max() + 0.5))
    # rows that are not unit length are normalised: the move is t along the unit vector, to rounding
    scaled = apply_axis(z, 3 * rows, 1, 0.7)
    np.testing.assert_allclose(scaled, z + 0.7 * rows[1], rtol=0, atol=4 * eps * (np.abs(z).max() + 0.7))


def test_keeps_dtype_and_never_mutates(rows):
    z = torch.randn(2, 7, generator=torch.Generator().manual_seed(0))
    before = z.clone()
    out = apply_axis(z, rows, 1, 0.3, sphere=True)
    assert out.dtype == torch.float32 and torch.equal(z, before)  # bitwise on purpose: z must be untouched


@pytest.mark.parametrize("t", [0.0, 0.1, -0.4, 1.0, math.pi / 2, 2.5])
def test_sphere_rotates_by_angle_t(rows, t):
    z = np.random.default_rng(2).standard_normal((3, 7))
    out = apply_axis(z, rows, 1, t, sphere=True)
    r = np.linalg.norm(z, axis=1)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), r, rtol=1e-15)  # norm kept to rounding
    cos = np.einsum("bi,bi->b", out, z) / r ** 2
    np.testing.assert_allclose(cos, math.cos(t), atol=1e-13)  # the angle moved is |t|
    u = rows[1]
    w = u - (z @ u)[:, None] * z / r[:, None] ** 2
    expect = r[:, None] * (math.cos(t) * z / r[:, None] + math.sin(t) * w / np.linalg.norm(w, axis=1)[:, None])
    np.testing.assert_allclose(out, expect, atol=1e-13)  # in the plane of z and u, toward u
    if 0 < t <= 0.1:  # a small positive angle moves toward u
        assert np.all(out @ u > z @ u)


def test_walk_matches_apply(rows):
    z = np.random.default_rng(3).standard_normal(7)
    ts = np.array([-1.0, 0.0, 0.5])
    for sphere in (False, True):
        codes = walk(z, rows[0], ts, sphere=sphere).numpy()
        for t, c in zip(ts, codes):
            np.testing.assert_allclose(c, apply_axis(z, rows, 0, t, sphere=sphere), atol=1e-15)


def test_bad_inputs(rows):
    z = np.ones(7)
    with pytest.raises(InputError, match="t must be a finite number, got nan"):
        apply_axis(z, rows, 0, float("nan"))
    with pytest.raises(InputError, match="t must be a finite number, got inf"):
        apply_axis(z, rows, 0, float("inf"), sphere=True)
    with pytest.raises(InputError, match="axis index 3 is out of range"):
        apply_axis(z, rows, 3, 1.0)
    with pytest.raises(InputError, match="axis index -1 is out of range"):
        apply_axis(z, rows, -1, 1.0)
    with pytest.raises(InputError, match=r"shape \(7,\) or \(N, 7\)"):
        apply_axis(np.ones(5), rows, 0, 1.0)
    with pytest.raises(InputError, match="NaN"):
        apply_axis(np.full(7, np.nan), rows, 0, 1.0)
    with pytest.raises(InputError, match="zero vector"):
        apply_axis(np.zeros(7), rows, 0, 1.0, sphere=True)
    with pytest.raises(InputError, match="parallel to z"):
        apply_axis(3 * rows[0], rows, 0, 1.0, sphere=True)
