"""The path energy's value and gradient against autograd of the plain formula, in every chunking."""
from __future__ import annotations

import math

import pytest
import torch

import ganmetric
from ganmetric.distances import FunctionDistance
from ganmetric.errors import InputError
from ganmetric.paths.energy import PathEnergy, prior_gradient, prior_penalty
from helpers import TinyConvGenerator


@pytest.fixture(scope="module")
def setup():
    G = TinyConvGenerator(n=5).double()
    D = ganmetric.load_distance("mse", dtype="float64")
    codes = torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return G, D, codes


def _reference(G, D, codes, w):
    """E + w * prior by autograd of the definitions, and its gradient at the interior codes."""
    inner = codes[1:-1].clone().requires_grad_(True)
    Z = torch.cat([codes[:1], inner, codes[-1:]])
    x = G(Z)
    s2 = D(x[:-1], x[1:])
    T = len(s2)
    obj = T * s2.sum() + w * ((Z.norm(dim=1) - math.sqrt(Z.shape[1])) ** 2 / Z.shape[1])[1:-1].sum()
    (g,) = torch.autograd.grad(obj, inner)
    return float(obj.detach()), g, s2.detach()


@pytest.mark.parametrize("chunk", [1, 2, 5, 64])
@pytest.mark.parametrize("w", [0.0, 0.7])
def test_value_and_gradient_match_autograd_of_the_definition(setup, chunk, w):
    G, D, codes = setup
    energy = PathEnergy(G, D, codes[0], codes[-1], prior_weight=w, chunk=chunk)
    ev = energy.evaluate(codes[1:-1])
    obj, g, s2 = _reference(G, D, codes, w)
    assert ev.objective == pytest.approx(obj, rel=1e-12)
    assert ev.energy == pytest.approx(6 * float(s2.sum()), rel=1e-12)
    torch.testing.assert_close(ev.steps2, s2, rtol=1e-12, atol=1e-16)
    torch.testing.assert_close(ev.grad, g, rtol=1e-10, atol=1e-13)


def test_prior_gradient_matches_finite_differences():
    z = torch.tensor([[0.3, -1.2, 2.0], [4.0, 0.1, 0.0]], dtype=torch.float64)
    g = prior_gradient(z, 2.5)
    eps = 1e-6
    for i in range(2):
        for j in range(3):
            e = torch.zeros_like(z)
            e[i, j] = eps
            fd = 2.5 * (prior_penalty(z + e).sum() - prior_penalty(z - e).sum()) / (2 * eps)
            assert float(g[i, j]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)
    torch.testing.assert_close(prior_gradient(torch.zeros(1, 3, dtype=torch.float64), 1.0),
                               torch.zeros(1, 3, dtype=torch.float64), rtol=0, atol=0)


def test_a_distance_without_features_and_bad_options_are_refused(setup):
    G, D, codes = setup
    plain = FunctionDistance(lambda x, y: (x - y).pow(2).flatten(1).mean(1))
    with pytest.raises(InputError, match="squared-feature form"):
        PathEnergy(G, plain, codes[0], codes[-1])
    with pytest.raises(InputError, match="prior_weight must be a finite number >= 0, got -1"):
        PathEnergy(G, D, codes[0], codes[-1], prior_weight=-1)
    with pytest.raises(InputError, match="chunk must be at least 1, got 0"):
        PathEnergy(G, D, codes[0], codes[-1], chunk=0)
