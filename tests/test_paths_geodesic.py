"""Discrete geodesics with known answers: straight lines, an isometry up to a reparametrisation,
the sphere under a strong prior; refinement, agreement of the optimisers, and bad input."""
from __future__ import annotations

import math

import pytest
import torch

import ganmetric
from ganmetric.distances import FunctionDistance
from ganmetric.errors import InputError, NumericalWarning
from ganmetric.generators.base import Generator
from helpers import LinearGenerator, TinyConvGenerator


class SinhGenerator(Generator):
    """G(z) = Q sinh(z) reshaped to (1, 4, 4), Q with orthonormal columns: with mse,
    d(G(x), G(y)) = |sinh x - sinh y|^2 / 16, a Euclidean distance after the map u = sinh z."""

    def __init__(self, n: int = 3):
        super().__init__(name="sinh", latent_dim=n, resolution=4)
        Q, _ = torch.linalg.qr(torch.randn(16, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
        self.register_buffer("Q", Q)
        self.freeze()

    def _generate(self, z):
        return (torch.sinh(z) @ self.Q.T).reshape(z.shape[0], 1, 4, 4)


@pytest.fixture(scope="module")
def mse64():
    return ganmetric.load_distance("mse", dtype="float64")


@pytest.fixture(scope="module")
def linear():
    A = torch.randn(16, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return LinearGenerator(A)


def _ends(n, seed=0, scale=1.0):
    z = torch.randn(2, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale
    return z[0], z[1]


@pytest.mark.parametrize("optimizer", ["metric-lbfgs", "lbfgs"])
def test_linear_generator_geodesic_is_the_evenly_spaced_straight_line(linear, mse64, optimizer):
    a, b = _ends(4)
    path = ganmetric.geodesic(linear, mse64, a, b, points=9, init="slerp", optimizer=optimizer, tol=1e-12,
                              max_iter=500)
    # E is quadratic near its minimum, so the codes are determined to about sqrt(E's rounding), not 1e-15
    torch.testing.assert_close(path.codes, ganmetric.linear_path(a, b, 9), rtol=0, atol=1e-6)
    L = float((linear.A @ (b - a)).norm()) / 4  # sqrt(mse) between the ends: a straight image segment
    assert path.length == pytest.approx(L, rel=1e-9)
    assert path.energy == pytest.approx(L ** 2, rel=1e-9)  # E = L^2: equal steps
    assert path.evenness == pytest.approx(1.0, abs=1e-6)
    assert path.converged and path.method == "geodesic"
    if optimizer == "metric-lbfgs":  # the preconditioner is exact here but for its eigenvalue floor
        assert path.iterations <= 4


def test_isometry_up_to_reparametrisation_has_the_predicted_geodesic(mse64):
    G = SinhGenerator(3)
    a, b = _ends(3, seed=2, scale=1.5)
    path = ganmetric.geodesic(G, mse64, a, b, points=7, tol=1e-12, max_iter=1000)
    t = torch.linspace(0, 1, 7, dtype=torch.float64)[:, None]
    expected = torch.asinh((1 - t) * torch.sinh(a) + t * torch.sinh(b))  # even steps along the straight line in u
    torch.testing.assert_close(path.codes, expected, rtol=0, atol=1e-6)
    L = float((torch.sinh(b) - torch.sinh(a)).norm()) / 4
    assert path.length == pytest.approx(L, rel=1e-8) and path.energy == pytest.approx(L ** 2, rel=1e-7)
    linear = ganmetric.path_length(G, mse64, ganmetric.linear_path(a, b, 7))
    assert linear.energy > path.energy * 1.01  # the straight line in z is not the geodesic here


def test_refine_doubles_the_steps_and_keeps_the_answer(linear, mse64):
    a, b = _ends(4, seed=3)
    once = ganmetric.geodesic(linear, mse64, a, b, points=5, refine=1, tol=1e-12)
    twice = ganmetric.geodesic(linear, mse64, a, b, points=5, refine=2, tol=1e-12)
    assert once.points == 9 and twice.points == 17
    assert [s["points"] for s in twice.stages] == [5, 9, 17]
    assert twice.iterations == sum(s["iterations"] for s in twice.stages)
    torch.testing.assert_close(twice.codes, ganmetric.linear_path(a, b, 17), rtol=0, atol=1e-7)
    assert twice.options["final_points"] == 17 and twice.options["refine"] == 2


def test_refine_continues_a_nonlinear_geodesic_without_raising_its_energy(mse64):
    G = SinhGenerator(3)
    a, b = _ends(3, seed=4, scale=1.5)
    coarse = ganmetric.geodesic(G, mse64, a, b, points=4, tol=1e-10, max_iter=300)
    fine = ganmetric.geodesic(G, mse64, a, b, points=4, refine=1, tol=1e-10, max_iter=300)
    assert fine.points == 7
    torch.testing.assert_close(fine.codes[::2], coarse.codes, rtol=0, atol=1e-5)  # the geodesic's points stay
    assert fine.length == pytest.approx(coarse.length, rel=1e-6)  # both lie on the image segment


def test_prior_pulls_the_norms_toward_sqrt_n(mse64):
    # an isometry (orthonormal columns): under a strong prior the geodesic is the great circle, i.e. slerp
    Q, _ = torch.linalg.qr(torch.randn(16, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    G = LinearGenerator(Q)
    a, b = _ends(4, seed=6)
    a, b = a / a.norm() * 2, b / b.norm() * 2  # |z| = sqrt(n) = 2 at both ends
    deviation = {}
    for w in (0.0, 1.0, 100.0):
        path = ganmetric.geodesic(G, mse64, a, b, points=9, prior_weight=w, tol=1e-12, max_iter=2000)
        deviation[w] = float((path.norms - 2).abs().max())
        assert path.options["prior_weight"] == w
    assert deviation[0.0] > deviation[1.0] > deviation[100.0]
    assert deviation[0.0] == pytest.approx(2 - float(ganmetric.linear_path(a, b, 9).norm(dim=1).min()), rel=1e-6)
    strong = ganmetric.geodesic(G, mse64, a, b, points=9, prior_weight=1e6, tol=1e-13, max_iter=5000)
    torch.testing.assert_close(strong.codes, ganmetric.slerp_path(a, b, 9), rtol=0, atol=1e-4)


def test_geodesic_shortens_a_nonlinear_path_and_evens_its_steps(mse64):
    G = TinyConvGenerator(n=6).double()
    a, b = _ends(6, seed=7, scale=1.5)
    res = ganmetric.paths.compare_paths(G, mse64, a, b, points=8, max_iter=300)
    geo, lin = res["geodesic"], res["linear"]
    assert geo.energy < lin.energy and geo.length <= lin.length * (1 + 1e-9)
    assert geo.evenness < lin.evenness
    assert geo.energies[0] == pytest.approx(lin.energy, rel=1e-9)  # it starts from the straight line
    assert all(b <= a * (1 + 1e-12) for a, b in zip(geo.energies, geo.energies[1:]))
    torch.testing.assert_close(geo.codes[[0, -1]], torch.stack([a, b]), rtol=0, atol=0)  # ends stay fixed


def test_chunk_does_not_change_the_geodesic(mse64):
    G = TinyConvGenerator(n=4).double()
    a, b = _ends(4, seed=8)
    whole = ganmetric.geodesic(G, mse64, a, b, points=6, max_iter=20)
    chunked = ganmetric.geodesic(G, mse64, a, b, points=6, max_iter=20, chunk=2)
    torch.testing.assert_close(chunked.codes, whole.codes, rtol=0, atol=1e-9)


def test_hitting_max_iter_warns_and_says_not_converged(mse64):
    G = TinyConvGenerator(n=4).double()
    a, b = _ends(4, seed=9, scale=2.0)
    with pytest.warns(NumericalWarning, match="max_iter=2"):
        path = ganmetric.geodesic(G, mse64, a, b, points=6, max_iter=2, tol=1e-12)
    assert path.converged is False and path.stages[-1]["stop_reason"] == "max_iter" and path.iterations == 2


@pytest.mark.filterwarnings("ignore::ganmetric.errors.NumericalWarning")
def test_float32_generator_gives_float32_codes():
    G = TinyConvGenerator(n=4)
    a, b = _ends(4, seed=10)
    path = ganmetric.geodesic(G, ganmetric.load_distance("mse"), a, b, points=4, max_iter=5)
    assert path.codes.dtype == torch.float32 and path.steps.dtype == torch.float64


@pytest.mark.parametrize("kwargs,pattern", [
    ({"points": 2}, "points must be at least 3, got 2"),
    ({"init": "spline"}, "init 'spline' is not one of"),
    ({"optimizer": "sgd"}, "optimizer 'sgd' is not one of"),
    ({"refine": -1}, "refine must be at least 0, got -1"),
    ({"refine": 13}, "13 refinements of a path of 16 points would make 122881 codes; at most 4097"),
    ({"tol": 0}, "tol must be a finite number > 0, got 0"),
    ({"max_iter": 0}, "max_iter must be at least 1, got 0"),
    ({"prior_weight": float("nan")}, "prior_weight must be a finite number"),
    ({"chunk": 0}, "chunk must be at least 1"),
])
def test_bad_options_are_refused(linear, mse64, kwargs, pattern):
    a, b = _ends(4)
    with pytest.raises(InputError, match=pattern):
        ganmetric.geodesic(linear, mse64, a, b, **kwargs)


def test_bad_endpoints_and_distances_are_refused(linear, mse64):
    a, b = _ends(4)
    with pytest.raises(InputError, match="same code"):
        ganmetric.geodesic(linear, mse64, a, a.clone())
    with pytest.raises(InputError, match=r"z_b must have shape \(4,\)"):
        ganmetric.geodesic(linear, mse64, a, b[:3])
    with pytest.raises(InputError, match="z_a contains NaN"):
        ganmetric.geodesic(linear, mse64, torch.full((4,), math.nan), b)
    plain = FunctionDistance(lambda x, y: (x - y).pow(2).flatten(1).mean(1), name="my-distance")
    with pytest.raises(InputError, match="my-distance has none"):
        ganmetric.geodesic(linear, plain, a, b)
    # without the geodesic, such a distance still measures the straight line and slerp
    res = ganmetric.paths.compare_paths(linear, plain, a, b, methods="linear,slerp", points=5)
    assert list(res) == ["linear", "slerp"] and res["linear"].points == 5


def test_compare_refuses_unknown_methods_and_geodesic_options_without_it(linear, mse64):
    a, b = _ends(4)
    with pytest.raises(InputError, match="method 'spline' is not one of"):
        ganmetric.paths.compare_paths(linear, mse64, a, b, methods="linear,spline")
    with pytest.raises(InputError, match="prior_weight, refine apply to the geodesic only"):
        ganmetric.paths.compare_paths(linear, mse64, a, b, methods=["linear"], prior_weight=1.0, refine=1)
    with pytest.raises(InputError, match="opposite codes"):  # before any work, not after the geodesic
        ganmetric.paths.compare_paths(linear, mse64, a, -a)
