"""JacobianOperator: J and J^T products against the dense Jacobian of the features (torch.autograd.functional),
and the primal both directions return."""
from __future__ import annotations

import pytest
import torch

import ganmetric
from ganmetric.hessian import GaussNewtonOperator, JacobianOperator, Objective
from helpers import TinyConvGenerator


@pytest.fixture(scope="module")
def problem():
    """A conv net with mse: the unscaled features are the image, flattened; J dense (F, n) by autograd."""
    G = TinyConvGenerator(n=5, seed=2, res=8).double()
    z0 = G.sample(1, seed=4)[0]
    J = torch.autograd.functional.jacobian(lambda z: G(z[None]).flatten(), z0)
    return G, ganmetric.load_distance("mse", dtype="float64"), z0, J


def _block(m, n, seed):
    return torch.randn(m, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_jvp_rows_and_primal(problem):
    G, D, z0, J = problem
    T = _block(7, 5, 0)
    primal, rows = JacobianOperator(Objective(G, D, z0)).jvp(T)
    torch.testing.assert_close(rows, T @ J.T, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(primal, G(z0[None]).flatten(1), rtol=0, atol=1e-15)


def test_vjp_pullback_and_primal(problem):
    G, D, z0, J = problem
    primal, pullback = JacobianOperator(Objective(G, D, z0)).vjp()
    U = _block(3, J.shape[0], 1)
    torch.testing.assert_close(pullback(U), U @ J, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(pullback(U[:1]), U[:1] @ J, rtol=1e-12, atol=1e-14)  # the graph is kept
    torch.testing.assert_close(primal, G(z0[None]).flatten(1), rtol=0, atol=1e-15)


def test_gauss_newton_is_composed_from_j_with_its_factor_once(problem):
    """H V = 2 c^2 J^T (J V) with c = 1/sqrt(N) for mse; the Gram and the products agree, and both hand back
    the primal of their first pass."""
    G, D, z0, J = problem
    op = GaussNewtonOperator(Objective(G, D, z0), chunk=2)
    H = 2 / J.shape[0] * J.T @ J
    V = _block(5, 3, 2)
    torch.testing.assert_close(op.matmat(V), H @ V, rtol=1e-12, atol=1e-14)
    assert op.factor == pytest.approx(2 / J.shape[0], rel=1e-15)
    gram = op.gram()
    torch.testing.assert_close(gram.H, H, rtol=1e-12, atol=1e-14)
    assert gram.chunk == 2
    torch.testing.assert_close(gram.primal, op.linearize(), rtol=0, atol=1e-15)


def test_a_map_that_ignores_z_has_a_zero_jacobian():
    G = TinyConvGenerator(n=3, seed=0, res=8).double()
    D = ganmetric.distances.FeatureDistance(lambda x: torch.zeros(x.shape[0], 4, dtype=x.dtype))
    primal, pullback = JacobianOperator(Objective(G, D, G.sample(1, seed=0)[0])).vjp()
    assert torch.equal(pullback(torch.ones(2, 4, dtype=torch.float64)), torch.zeros(2, 3, dtype=torch.float64))
