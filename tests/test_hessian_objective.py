"""Objective: the maps the engine differentiates, the input shape learnt without an evaluation of its own,
the feature scale, batched forward-mode products with their primal, the cached memory measurement."""
from __future__ import annotations

import pytest
import torch

import ganmetric
from ganmetric.hessian import Objective
from helpers import LinearGenerator, TinyConvGenerator


def _linear():
    A = torch.randn(48, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return LinearGenerator(A, shape=(3, 4, 4)), ganmetric.load_distance("mse", dtype="float64"), A


def test_the_first_evaluation_gives_the_input_shape_and_the_feature_scale():
    G, D, _ = _linear()
    obj = Objective(G, D, torch.ones(3, dtype=torch.float64))
    calls = []
    G.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    obj.psi_unscaled(torch.ones(5, 3, dtype=torch.float64))
    assert obj.input_shape == (3, 4, 4) and calls == [5]  # no evaluation of z0 alone for it
    assert obj.feature_scale == pytest.approx(48 ** -0.5, rel=1e-15)
    torch.testing.assert_close(obj.psi(torch.ones(2, 3, dtype=torch.float64)),
                               obj.feature_scale * obj.psi_unscaled(torch.ones(2, 3, dtype=torch.float64)))


def test_jvp_returns_the_primal_alone_and_the_tangents():
    G, D, A = _linear()
    z0 = torch.linspace(-1, 1, 3, dtype=torch.float64)
    T = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    primal, tangents = Objective(G, D, z0).jvp(lambda Z: G(Z).flatten(1), T)
    torch.testing.assert_close(primal, (A @ z0)[None], rtol=1e-15, atol=0)
    torch.testing.assert_close(tangents, T @ A.T, rtol=1e-14, atol=0)


def test_the_forward_memory_is_measured_once_per_model():
    G = TinyConvGenerator(n=4, seed=0, res=8)
    D = ganmetric.load_distance("mse")
    first = Objective(G, D, G.sample(1, seed=0)[0]).forward_memory(features=True)
    again = Objective(G, D, G.sample(1, seed=1)[0]).forward_memory(features=True)
    assert again is first and first.peak > 0 and first.out == 3 * 8 * 8 * 4
