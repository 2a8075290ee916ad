"""Straight line and SLERP between two codes: closed forms, and every refusal."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.errors import InputError
from ganmetric.paths.interpolation import halve_steps


def _pair(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)


def test_linear_path_is_evenly_spaced_with_both_ends():
    a, b = _pair()
    codes = ganmetric.linear_path(a, b, 5)
    assert codes.shape == (5, 5)
    torch.testing.assert_close(codes[0], a, rtol=0, atol=0)
    torch.testing.assert_close(codes[-1], b, rtol=1e-15, atol=1e-15)
    gaps = (codes[1:] - codes[:-1]).norm(dim=1)
    torch.testing.assert_close(gaps, torch.full((4,), float((b - a).norm()) / 4, dtype=torch.float64),
                               rtol=1e-12, atol=0)


def test_slerp_keeps_the_norm_and_spaces_angles_evenly():
    a, b = _pair()
    b = b * (a.norm() / b.norm())  # equal norms: slerp stays on the sphere of that radius
    codes = ganmetric.slerp_path(a, b, 7)
    torch.testing.assert_close(codes.norm(dim=1), a.norm().expand(7), rtol=1e-12, atol=0)
    unit = codes / codes.norm(dim=1, keepdim=True)
    angles = torch.arccos((unit[1:] * unit[:-1]).sum(1).clamp(-1, 1))
    omega = math.acos(float(a @ b / (a.norm() * b.norm())))
    torch.testing.assert_close(angles, torch.full((6,), omega / 6, dtype=torch.float64), rtol=1e-7, atol=0)
    torch.testing.assert_close(codes[0], a, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(codes[-1], b, rtol=1e-14, atol=1e-14)


def test_slerp_of_parallel_codes_is_the_straight_line():
    a = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(ganmetric.slerp_path(a, 3 * a, 5), ganmetric.linear_path(a, 3 * a, 5),
                               rtol=1e-15, atol=0)


def test_halve_steps_inserts_midpoints():
    codes = ganmetric.linear_path(*_pair(), 4)
    fine = halve_steps(codes)
    assert fine.shape == (7, 5)
    torch.testing.assert_close(fine[0::2], codes, rtol=0, atol=0)
    torch.testing.assert_close(fine, ganmetric.linear_path(codes[0], codes[-1], 7), rtol=1e-12, atol=1e-14)


def test_numpy_and_row_codes_are_accepted():
    a, b = _pair()
    codes = ganmetric.linear_path(a.numpy()[None], b.numpy(), 3)
    torch.testing.assert_close(codes[1], (a + b) / 2, rtol=1e-15, atol=0)


@pytest.mark.parametrize("make", [ganmetric.linear_path, ganmetric.slerp_path])
@pytest.mark.parametrize("z_a,z_b,points,pattern", [
    ([1.0, 2.0], [1.0, 2.0], 4, "same code"),
    ([1.0, 2.0], [1.0, 2.0, 3.0], 4, "z_b must have shape (2,)"),
    ([1.0, float("nan")], [1.0, 2.0], 4, "z_a contains NaN"),
    ([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0], 4, "z_a must be one code of size 2, got 2 codes"),
    ([1.0, 2.0], [2.0, 1.0], 2, "points must be at least 3, got 2"),
    ([1.0, 2.0], [2.0, 1.0], 3.5, "points must be an integer, got 3.5"),
    ("ab", [2.0, 1.0], 3, "z_a must be a numeric array"),
])
def test_bad_input_is_one_clear_error(make, z_a, z_b, points, pattern):
    with pytest.raises(InputError, match=pattern.replace("(", r"\(").replace(")", r"\)")):
        make(z_a, z_b, points)


def test_slerp_refuses_opposite_and_zero_codes():
    with pytest.raises(InputError, match="opposite codes"):
        ganmetric.slerp_path(np.array([1.0, 2.0]), np.array([-1.0, -2.0]), 5)
    with pytest.raises(InputError, match="non-zero codes"):
        ganmetric.slerp_path(np.zeros(2), np.array([1.0, 2.0]), 5)
    # the straight line joins them fine
    middle = ganmetric.linear_path(np.array([1.0, 2.0]), np.array([-1.0, -2.0]), 3)[1]
    torch.testing.assert_close(middle, torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-15)
