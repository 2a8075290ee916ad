"""Dense builders (ganmetric/hessian/dense.py) against the dense float64 autograd Hessian.

Exact builders agree with ``torch.autograd.functional.hessian`` to float64 rounding through
a small network (measured <= 2e-15 relative); 1e-10 is asserted.
"""
from __future__ import annotations

import copy

import pytest
import torch

import ganmetric
from ganmetric.distances import FunctionDistance
from ganmetric.errors import InputError
from ganmetric.generators.base import Generator
from ganmetric.hessian.dense import bp_hessian, jacobian_gram, operator_dense
from ganmetric.hessian.objective import Objective
from ganmetric.hessian.operators import DoubleBackwardOperator, FwdOverRevOperator, GaussNewtonOperator
from ganmetric.testing import dense_hessian
from helpers import LinearGenerator, TinyConvGenerator

RTOL = 1e-10


@pytest.fixture(scope="module")
def problem():
    G = TinyConvGenerator(n=6, seed=7, res=8).double()
    z0 = G.sample(1, seed=1)[0]
    D = ganmetric.load_distance("mse", dtype="float64")
    return G, D, z0, dense_hessian(G, D, z0)


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("chunk", [None, 1, 4, 6, 50])
def test_jacobian_gram_matches_dense_hessian_for_any_chunk(problem, chunk, device):
    G, D, z0, H = problem
    G, D = copy.deepcopy(G).to(device), copy.deepcopy(D).to(device)  # copies: the module-scoped fixture stays put
    out = jacobian_gram(Objective(G, D, z0.to(device)), chunk=chunk).H
    assert out.shape == (6, 6) and out.device.type == device.type
    assert _rel(out.cpu(), H) <= RTOL
    # bitwise on purpose: (H + H^T) / 2 is exactly symmetric, floating-point addition being commutative
    assert torch.equal(out, out.T)


def test_jacobian_gram_closed_form():
    """G(z) = A z with mse: H = 2 A^T A / N exactly (to rounding)."""
    A = torch.randn(16, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    obj = Objective(LinearGenerator(A), ganmetric.load_distance("mse", dtype="float64"),
                    torch.ones(5, dtype=torch.float64))
    assert _rel(jacobian_gram(obj, chunk=2).H, 2 * A.T @ A / 16) <= 1e-14


@pytest.mark.parametrize("make", [lambda o: GaussNewtonOperator(o, chunk=4), lambda o: FwdOverRevOperator(o, chunk=5),
                                  DoubleBackwardOperator], ids=["gauss-newton", "fwd-over-rev", "double-backward"])
def test_operator_dense_applies_the_operator_to_the_identity(problem, make):
    G, D, z0, H = problem
    op = make(Objective(G, D, z0))
    out = operator_dense(op)
    assert _rel(out, H) <= RTOL and torch.equal(out, out.T)
    assert op.n_products == 6  # one product per column, chunked or not


def test_bp_hessian_matches_dense_hessian_without_features(problem):
    G, _, z0, _ = problem
    D = FunctionDistance(lambda x, y: ((x - y) ** 2).flatten(1).mean(1) + ((x - y) ** 4).flatten(1).mean(1))
    H = dense_hessian(G, D, z0)
    out = bp_hessian(Objective(G, D, z0))
    assert _rel(out, H) <= RTOL and torch.equal(out, out.T)


def test_progress_bars_do_not_change_results(problem, capsys):
    G, D, z0, H = problem
    obj = Objective(G, D, z0)
    assert _rel(jacobian_gram(obj, chunk=2, progress=True).H, H) <= RTOL
    assert _rel(bp_hessian(obj, progress=True), H) <= RTOL
    assert "jacobian" in capsys.readouterr().err  # the bar went to stderr


class _Tanh(torch.autograd.Function):
    """tanh with a forward-mode rule but no vmap rule, like some TorchScript and custom ops."""

    @staticmethod
    def forward(x):
        return torch.tanh(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_forward(output)

    @staticmethod
    def jvp(ctx, dx):
        (y,) = ctx.saved_tensors
        return (1 - y ** 2) * dx


class _NoVmap(Generator):
    def __init__(self):
        super().__init__(name="no-vmap", latent_dim=4)
        self.register_buffer("A", torch.randn(16, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
        self.freeze()

    def _generate(self, z):
        return _Tanh.apply(z @ self.A.T).reshape(-1, 1, 4, 4)


def test_jacobian_falls_back_to_batched_copies_when_vmap_cannot_run():
    """A map without a vmap rule: the batched jvp runs m primal copies instead, with the same result."""
    G = _NoVmap()
    z0 = torch.linspace(-0.5, 0.5, 4, dtype=torch.float64)
    obj = Objective(G, ganmetric.load_distance("mse", dtype="float64"), z0)
    y = torch.tanh(G.A @ z0)
    J = (1 - y ** 2)[:, None] * G.A  # (16, 4) in closed form; with mse (16 pixels), H = 2 J^T J / 16
    assert _rel(jacobian_gram(obj, chunk=3).H, 2 * J.T @ J / 16) <= 1e-14


@pytest.mark.parametrize("chunk", [0, -1, 1.5])
def test_jacobian_gram_refuses_a_bad_chunk(problem, chunk):
    G, D, z0, _ = problem
    with pytest.raises(InputError, match="chunk must be") as info:
        jacobian_gram(Objective(G, D, z0), chunk=chunk)
    assert info.value.argument == "chunk"
