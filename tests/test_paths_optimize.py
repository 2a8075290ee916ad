"""The energy's optimiser: L-BFGS on known functions, the preconditioner's algebra, the stopping rule."""
from __future__ import annotations

import pytest
import torch

from ganmetric.paths.optimize import (Preconditioner, _stop, chain_inverse_sqrt, identity_preconditioner,
                                      minimize)


def _rosenbrock(x):
    x = x.detach().requires_grad_(True)
    f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    (g,) = torch.autograd.grad(f, x)
    return float(f.detach()), g


def test_lbfgs_finds_the_rosenbrock_minimum():
    found = minimize(_rosenbrock, torch.tensor([-1.2, 1.0], dtype=torch.float64), max_iter=500, tol=1e-14)
    torch.testing.assert_close(found.x, torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-5)
    assert found.converged and all(b <= a for a, b in zip(found.values, found.values[1:]))  # monotone


def test_a_quadratic_with_the_identity_hessian_is_solved_in_one_step():
    target = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)

    def fun(x):
        return float(((x - target) ** 2).sum() / 2), x - target

    found = minimize(fun, torch.zeros(3, dtype=torch.float64), max_iter=50, tol=1e-6)
    torch.testing.assert_close(found.x, target, rtol=0, atol=1e-14)
    assert found.iterations == 1 and found.stop_reason in ("stationary", "tolerance")


def test_max_iter_is_reported():
    found = minimize(_rosenbrock, torch.tensor([-1.2, 1.0], dtype=torch.float64), max_iter=3, tol=1e-14)
    assert found.stop_reason == "max_iter" and not found.converged and found.iterations == 3
    assert len(found.values) == 4


def test_chain_inverse_sqrt_squares_to_the_inverse_second_difference():
    m = 6
    L = 2 * torch.eye(m, dtype=torch.float64) - torch.diag(torch.ones(m - 1, dtype=torch.float64), 1) \
        - torch.diag(torch.ones(m - 1, dtype=torch.float64), -1)
    S = chain_inverse_sqrt(m, "cpu")
    torch.testing.assert_close(S @ L @ S, torch.eye(m, dtype=torch.float64), rtol=0, atol=1e-12)


def test_preconditioner_applies_its_formula_and_is_its_own_transpose():
    g = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(5, 2, generator=g, dtype=torch.float64))
    a = torch.tensor([0.5, 2.0], dtype=torch.float64)
    chain = chain_inverse_sqrt(4, "cpu")
    pre = Preconditioner(chain, U, a, 3.0, 0.25)
    M = U @ torch.diag(a) @ U.T + 3.0 * (torch.eye(5, dtype=torch.float64) - U @ U.T)
    C, Y = torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(pre.apply(C), chain @ C @ M * 0.25, rtol=1e-12, atol=1e-14)
    # <Y, P C> = <P^T Y, C>: the gradient goes back through the same map
    assert float((Y * pre.apply(C)).sum()) == pytest.approx(float((pre.pull(Y) * C).sum()), rel=1e-12)
    ident = identity_preconditioner(5, "cpu")
    torch.testing.assert_close(ident.apply(C), C, rtol=0, atol=0)


def test_stopping_rule_averages_the_relative_change_over_five_iterations():
    assert not _stop([10.0, 9.0, 8.0], 1e-3)  # too few iterations to judge
    assert _stop([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], 1e-3)
    assert _stop([1.004, 1.003, 1.002, 1.001, 1.0005, 1.0], 1e-3)  # 0.4% over 5: 8e-4 per iteration
    assert not _stop([1.006, 1.004, 1.003, 1.002, 1.001, 1.0], 1e-3)  # 0.6% over 5
    assert _stop([0.0], 1e-3)
