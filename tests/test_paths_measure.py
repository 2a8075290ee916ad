"""Path lengths: closed forms on a linear generator, L^2 <= E, any distance, and bad paths."""
from __future__ import annotations

import math

import pytest
import torch

import ganmetric
from ganmetric.distances import FunctionDistance
from ganmetric.errors import InputError
from helpers import LinearGenerator, TinyConvGenerator


@pytest.fixture(scope="module")
def linear():
    A = torch.randn(16, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return LinearGenerator(A)


@pytest.fixture(scope="module")
def mse64():
    return ganmetric.load_distance("mse", dtype="float64")


def test_length_energy_and_evenness_of_a_known_path(linear, mse64):
    a = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    b = torch.tensor([-1.5, 0.3, 0.7], dtype=torch.float64)
    ts = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    codes = a + ts[:, None] * (b - a)
    path = ganmetric.path_length(linear, mse64, codes)
    # mse of a linear map: d(G(x), G(y)) = |A (x - y)|^2 / 16, so the step from t to t' is |t' - t| |A (b - a)| / 4
    unit = float((linear.A @ (b - a)).norm()) / 4
    expected = torch.tensor([0.1, 0.4, 0.5], dtype=torch.float64) * unit
    torch.testing.assert_close(path.steps, expected, rtol=1e-12, atol=0)
    assert path.length == pytest.approx(unit, rel=1e-12)
    assert path.energy == pytest.approx(3 * unit ** 2 * (0.01 + 0.16 + 0.25), rel=1e-12)
    assert path.evenness == pytest.approx(0.5 / (1 / 3), rel=1e-12)
    torch.testing.assert_close(path.cumulative, torch.tensor([0, 0.1, 0.5, 1.0], dtype=torch.float64) * unit,
                               rtol=1e-12, atol=1e-15)
    assert path.method == "measured" and path.points == 4 and path.converged is None


def test_length_squared_is_at_most_the_energy_with_equality_for_equal_steps(linear, mse64):
    a, b = linear.sample(2, seed=3)
    even = ganmetric.path_length(linear, mse64, ganmetric.linear_path(a, b, 9))
    assert even.length ** 2 == pytest.approx(even.energy, rel=1e-12)
    assert even.evenness == pytest.approx(1.0, rel=1e-12)
    G = TinyConvGenerator(n=4).double()
    codes = torch.randn(7, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    uneven = ganmetric.path_length(G, mse64, codes)
    assert uneven.length ** 2 < uneven.energy * (1 - 1e-3)
    assert uneven.length ** 2 == pytest.approx(float(uneven.steps.sum()) ** 2, rel=1e-12)
    summary = uneven.summary()
    assert summary["length_squared_over_energy"] == pytest.approx(uneven.length ** 2 / uneven.energy, rel=1e-12)
    assert summary["norm_min"] == pytest.approx(float(codes.norm(dim=1).min()), rel=1e-12)


def test_a_distance_without_features_measures_the_same_steps_in_any_chunking(mse64):
    G = TinyConvGenerator(n=4).double()
    codes = torch.randn(7, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    plain = FunctionDistance(lambda x, y: (x - y).pow(2).flatten(1).mean(1), name="my-mse")
    ref = ganmetric.path_length(G, mse64, codes).steps
    for chunk in (1, 2, 3, 64):
        torch.testing.assert_close(ganmetric.path_length(G, plain, codes, chunk=chunk).steps, ref,
                                   rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(ganmetric.path_length(G, mse64, codes, chunk=chunk).steps, ref,
                                   rtol=1e-12, atol=1e-15)


def test_prior_penalty_of_a_path(linear, mse64):
    codes = torch.tensor([[3.0, 0, 0], [0, 0, 0], [0, 1.0, 1.0]], dtype=torch.float64)
    path = ganmetric.path_length(linear, mse64, codes)
    r = math.sqrt(3)
    assert path.prior_penalty == pytest.approx(((3 - r) ** 2 + r ** 2 + (math.sqrt(2) - r) ** 2) / 3, rel=1e-12)


@pytest.mark.parametrize("codes,pattern", [
    (torch.zeros(1, 3), "at least 2 codes"),
    (torch.zeros(3), "at least 2 codes"),
    (torch.zeros(4, 2), r"must have shape \(3,\) or \(N, 3\)"),
    (torch.tensor([[0.0, 0, 0], [float("inf"), 0, 0]]), "NaN or inf"),
])
def test_bad_paths_are_refused(linear, mse64, codes, pattern):
    with pytest.raises(InputError, match=pattern):
        ganmetric.path_length(linear, mse64, codes)



def test_a_layer_distance_measures_the_generators_own_activations():
    """layer:NAME paths compare G's activations, not its images: steps equal sqrt of the mean squared
    difference of body.2's outputs at consecutive codes (computed here by slicing the model, no hooks)."""
    G = TinyConvGenerator(n=5, seed=3).double()
    D = ganmetric.load_distance("layer:body.2", generator=G)
    codes = torch.randn(5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        act = G.body[:3](G.fc(codes).reshape(-1, 16, 4, 4))
    expected = (act[1:] - act[:-1]).pow(2).flatten(1).mean(dim=1).sqrt()
    path = ganmetric.path_length(G, D, codes, chunk=2)
    torch.testing.assert_close(path.steps, expected, rtol=1e-10, atol=0)
    geo = ganmetric.geodesic(G, D, codes[0], codes[-1], points=5, max_iter=50)
    line = ganmetric.path_length(G, D, ganmetric.linear_path(codes[0], codes[-1], 5))
    assert geo.energy < line.energy
