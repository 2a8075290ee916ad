"""Calibrated steps and distance curves: closed forms on a linear generator, and dcgan-face."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.axes import calibrate_steps, distance_curves, predicted_distance
from ganmetric.errors import InputError
from helpers import LinearGenerator, TinyConvGenerator

N_PIX = 16  # LinearGenerator's output (1, 4, 4)


@pytest.fixture(scope="module")
def linear():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(N_PIX, 6, generator=g, dtype=torch.float64)
    G = LinearGenerator(A)
    D = ganmetric.load_distance("mse", dtype="float64")
    z0 = torch.randn(1, 6, generator=g, dtype=torch.float64)
    return G, D, A.numpy(), z0


def _want(targets):
    return np.concatenate([targets[::-1], [0.0], targets])


@pytest.mark.parametrize("interpolate", [True, False])
def test_linear_closed_form_with_wrong_eigenvalues(linear, interpolate):
    """d(t) = t^2 |A u|^2 / N exactly: steps t = sqrt(d N / |A u|^2); eigenvalues 5x off force the search."""
    G, D, A, z0 = linear
    rows = np.linalg.qr(np.random.default_rng(1).standard_normal((6, 6)))[0].T[:3]
    true_lam = 2 * np.linalg.norm(A @ rows.T, axis=0) ** 2 / N_PIX
    cal = calibrate_steps(G, D, z0, (rows, 5 * true_lam), indices=[0, 1, 2], max_distance=0.3, n_targets=3,
                          rtol=1e-4, interpolate=interpolate)
    np.testing.assert_allclose(cal.targets, [0.1, 0.2, 0.3])
    want = _want(cal.targets)
    assert cal.reached.all()
    np.testing.assert_allclose(cal.distances, np.tile(want, (3, 1)), rtol=1e-4, atol=1e-15)
    expect = np.sign(np.arange(7) - 3)[None] * np.sqrt(2 * want[None] / true_lam[:, None])
    np.testing.assert_allclose(cal.steps, expect, rtol=1e-4, atol=1e-15)
    np.testing.assert_allclose(np.abs(cal.predicted_steps), np.abs(expect) / math.sqrt(5), rtol=1e-12)
    assert cal.max_relative_error() <= 1e-4


def test_linear_true_eigenpairs_need_no_search(linear):
    """With the metric's own eigenpairs (H = 2 A^T A / N), the prediction sqrt(2 d / lambda) is exact."""
    G, D, A, z0 = linear
    lam, vecs = np.linalg.eigh(2 * A.T @ A / N_PIX)
    rows, lam = vecs[:, ::-1].T, lam[::-1]
    cal = calibrate_steps(G, D, z0, (rows, lam), indices=[0, 3], max_distance=0.5, n_targets=2)
    np.testing.assert_allclose(cal.steps, cal.predicted_steps, rtol=1e-10)
    assert cal.evaluations == 1


def test_sphere_closed_form(linear):
    """On the sphere, d(theta) = |A (z(theta) - z0)|^2 / N with z(theta) the rotation of z0 toward u."""
    G, D, A, z0 = linear
    rows = np.eye(6)[[1, 4]]
    lam = 2 * np.linalg.norm(A @ rows.T, axis=0) ** 2 / N_PIX
    cal = calibrate_steps(G, D, z0, (rows, lam), indices=[0, 1], max_distance=0.2, n_targets=2, sphere=True,
                          rtol=1e-5)
    z = z0.numpy()[0]
    r = np.linalg.norm(z)
    for a, u in enumerate(rows):
        w = u - (u @ z) * z / r ** 2
        for theta, d in zip(cal.steps[a], cal.distances[a]):
            zt = r * (math.cos(theta) * z / r + math.sin(theta) * w / np.linalg.norm(w))
            assert np.sum((A @ (zt - z)) ** 2) / N_PIX == pytest.approx(d, rel=1e-9, abs=1e-15)
    np.testing.assert_allclose(cal.distances, np.tile(_want(cal.targets), (2, 1)), rtol=1e-5, atol=1e-15)


@pytest.fixture(scope="module")
def tanh_model():
    """tanh images: mse is at most 4; along e_0 from seed 0 it reaches 0.75 (t = -4) and 0.66 (t = +4)."""
    G = TinyConvGenerator(n=4, res=8).double()
    return G, ganmetric.load_distance("mse", dtype="float64"), G.sample(1, seed=0), (np.eye(4)[:1], np.ones(1))


def test_unreachable_target_is_flagged(tanh_model):
    """A target of 50 is never reached (and not faked): finite steps within the bound, no error statistic."""
    G, D, z0, axes = tanh_model
    cal = calibrate_steps(G, D, z0, axes, indices=[0], max_distance=50.0, n_targets=1, max_iter=5)
    assert not cal.reached[0, 0] and not cal.reached[0, 2] and cal.reached[0, 1]
    assert np.all(cal.distances[0, [0, 2]] < 4)
    assert cal.max_step == pytest.approx(2 * math.sqrt(4))  # the default bound: 2 sqrt(n)
    assert np.isfinite(cal.steps).all() and np.abs(cal.steps).max() <= cal.max_step
    assert math.isnan(cal.max_relative_error())  # no target reached: no error to report
    assert cal.unreached_rows() == [0]


def test_partly_reachable_targets_report_the_largest_distance(tanh_model):
    """Targets 0.5 (reached) and 1.0 (beyond the curve's 0.75 / 0.66 at |t| = 4 = the bound)."""
    G, D, z0, axes = tanh_model
    cal = calibrate_steps(G, D, z0, axes, indices=[0], max_distance=1.0, n_targets=2, rtol=1e-4)
    assert cal.reached.tolist() == [[False, True, True, True, False]]
    ends = distance_curves(G, D, z0, axes[0], [0], [-4.0, 4.0])[0]  # the distance at the bound, each side
    np.testing.assert_allclose(cal.largest[0], ends, rtol=1e-12)
    np.testing.assert_allclose(cal.distances[0, [0, 4]], ends, rtol=1e-12)
    np.testing.assert_allclose(cal.steps[0, [0, 4]], [-4.0, 4.0], rtol=1e-12)  # where the largest was found
    np.testing.assert_allclose(cal.distances[0, [1, 3]], 0.5, rtol=1e-4)
    assert cal.max_relative_error() <= 1e-4  # over the reached targets only
    tight = calibrate_steps(G, D, z0, axes, indices=[0], max_distance=1.0, n_targets=2, max_step=2.0)
    assert np.abs(tight.steps).max() <= 2.0 and not tight.reached[0, 0]
    csv_rows = tight.to_csv(eigvals=np.ones(1)).splitlines()
    assert csv_rows[0] == "axis,eigval,column,step,distance,target,reached,predicted_step" and len(csv_rows) == 6
    assert csv_rows[1].split(",")[6] == "0" and csv_rows[3].split(",")[6] == "1"


def test_curves_match_closed_form(linear):
    G, D, A, z0 = linear
    rows = np.eye(6)[[0, 2]]
    ts = np.linspace(-2, 2, 9)
    d = distance_curves(G, D, z0, rows, [0, 1], ts)
    expect = ts[None] ** 2 * np.linalg.norm(A @ rows.T, axis=0)[:, None] ** 2 / N_PIX
    np.testing.assert_allclose(d, expect, rtol=1e-12, atol=1e-15)
    lam = 2 * np.linalg.norm(A @ rows[0]) ** 2 / N_PIX
    np.testing.assert_allclose(predicted_distance(lam, ts), expect[0], rtol=1e-12, atol=1e-15)


def test_bad_inputs(linear):
    G, D, A, z0 = linear
    rows = (np.eye(6)[:2], np.ones(2))
    with pytest.raises(InputError, match="max_distance must be a finite number, got nan"):
        calibrate_steps(G, D, z0, rows, indices=[0], max_distance=float("nan"), n_targets=2)
    with pytest.raises(InputError, match="max_distance must be a finite number > 0, got -1"):
        calibrate_steps(G, D, z0, rows, indices=[0], max_distance=-1, n_targets=2)
    with pytest.raises(InputError, match="max_step must be at most pi on the sphere, got 4"):
        calibrate_steps(G, D, z0, rows, indices=[0], max_distance=0.1, n_targets=2, sphere=True, max_step=4.0)
    with pytest.raises(InputError, match="rtol must lie in"):
        calibrate_steps(G, D, z0, rows, indices=[0], max_distance=0.1, n_targets=2, rtol=0)
    with pytest.raises(InputError, match="axis index 2 is out of range"):
        calibrate_steps(G, D, z0, rows, indices=[2], max_distance=0.1, n_targets=2)
    with pytest.raises(InputError, match="one reference code"):
        calibrate_steps(G, D, torch.zeros(2, 6), rows, indices=[0], max_distance=0.1, n_targets=2)
    with pytest.raises(InputError, match="finite"):
        distance_curves(G, D, z0, rows[0], [0], [0.0, float("nan")])


def test_dcgan_face_hits_targets(dcgan_face):
    """On the real model: the achieved distances, recomputed independently, equal the targets."""
    G = dcgan_face
    D = ganmetric.load_distance("mse", dtype="float64")
    z0 = G.sample(1, seed=0)
    rows = np.linalg.qr(np.random.default_rng(0).standard_normal((100, 2)))[0].T
    with torch.no_grad():  # a rough eigenvalue guess from one small step: only the start of the search
        x0 = G(z0)
        lam = np.array([2 * float(D(x0, G(z0 + 0.5 * torch.as_tensor(u)[None]))) / 0.25 for u in rows])
    cal = calibrate_steps(G, D, z0, (rows, lam), indices=[0, 1], max_distance=0.03, n_targets=2, rtol=2e-3)
    assert cal.reached.all()
    want = np.tile(_want(cal.targets), (2, 1))
    np.testing.assert_allclose(cal.distances, want, rtol=2e-3, atol=1e-12)
    with torch.no_grad():
        for a, u in enumerate(rows):
            codes = z0 + torch.as_tensor(cal.steps[a])[:, None] * torch.as_tensor(u)[None]
            real = D(x0, G(codes)).numpy()
            np.testing.assert_allclose(real, want[a], rtol=2e-3, atol=1e-12)
