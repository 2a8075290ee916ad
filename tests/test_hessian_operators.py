"""Each metric operator's products (ganmetric/hessian/operators.py) against a dense float64 Hessian.

The reference is ``torch.autograd.functional.hessian`` of z -> d(G(z0), G(z)) (``ganmetric.testing``),
which shares nothing with the operators but autograd itself. Exact operators agree with it to
float64 rounding through a small network (measured ~1e-15 relative; 1e-10 asserted).
"""
from __future__ import annotations

import copy

import pytest
import torch

import ganmetric
from ganmetric.distances import FunctionDistance
from ganmetric.errors import InputError
from ganmetric.hessian.objective import Objective
from ganmetric.hessian.operators import (DoubleBackwardOperator, FiniteDifferenceOperator, FwdOverRevOperator,
                                         GaussNewtonOperator)
from ganmetric.testing import dense_hessian
from helpers import TinyConvGenerator

EXACT_RTOL = 1e-10


def _quartic():
    """A distance without the squared-feature form (its Hessian at y = x is still 2/N (J^T J)-like, but
    the operators must not assume it): mean squared plus mean fourth power of the difference."""
    return FunctionDistance(lambda x, y: ((x - y) ** 2).flatten(1).mean(1) + ((x - y) ** 4).flatten(1).mean(1))


@pytest.fixture(scope="module")
def problem():
    G = TinyConvGenerator(n=7, seed=5, res=8).double()
    z0 = G.sample(1, seed=2)[0]
    mse = ganmetric.load_distance("mse", dtype="float64")
    quartic = _quartic()
    return {"G": G, "z0": z0, "mse": (mse, dense_hessian(G, mse, z0)),
            "quartic": (quartic, dense_hessian(G, quartic, z0))}


def _block(n, m, seed=0, device="cpu"):
    return torch.randn(n, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(device)


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


OPERATORS = {
    "gauss-newton": (lambda obj: GaussNewtonOperator(obj, chunk=3), ["mse"]),
    "fwd-over-rev": (lambda obj: FwdOverRevOperator(obj, chunk=3), ["mse", "quartic"]),
    "double-backward": (lambda obj: DoubleBackwardOperator(obj), ["mse", "quartic"]),
}


@pytest.mark.parametrize("name, spec", [(op, spec) for op, (_, specs) in OPERATORS.items() for spec in specs])
def test_exact_operator_matmat_matches_dense_hessian(problem, name, spec, device):
    D, H = problem[spec]
    G = copy.deepcopy(problem["G"]).to(device)  # a copy: the module-scoped fixture stays on the CPU
    obj = Objective(G, copy.deepcopy(D).to(device), problem["z0"].to(device))
    op = OPERATORS[name][0](obj)
    V = _block(7, 8, device=device)  # 8 columns: several chunks of 3, the last one short
    HV = op.matmat(V)
    assert HV.shape == (7, 8) and HV.dtype == torch.float64 and HV.device.type == device.type
    assert _rel(HV.cpu(), H @ V.cpu()) <= EXACT_RTOL
    assert op.n_products == 8
    # the single-vector product and the @ operator are the same map
    assert _rel(op.matvec(V[:, 0]).cpu(), H @ V[:, 0].cpu()) <= EXACT_RTOL
    assert _rel((op @ V[:, :2]).cpu(), H @ V[:, :2].cpu()) <= EXACT_RTOL
    assert op.n_products == 11


def test_gauss_newton_equals_the_hessian_only_for_feature_distances(problem):
    """For mse the residual vanishes at z0, so 2 J^T J is the Hessian: the product is exact."""
    D, H = problem["mse"]
    op = GaussNewtonOperator(Objective(problem["G"], D, problem["z0"]))
    assert _rel(op.matmat(torch.eye(7, dtype=torch.float64)), H) <= EXACT_RTOL


@pytest.mark.parametrize("spec", ["mse", "quartic"])
def test_finite_difference_operator_is_second_order_accurate(problem, spec):
    """Central differences of the gradient on this smooth (softplus, tanh) map: error O(e^2).

    e = eps |z0| (|z0| ~ 1.9): the error falls 100-fold from eps = 1e-4 to 1e-5 (measured
    1.44e-6 -> 1.44e-8 of H's largest entry, both distances); rounding (~1e-16 / e) is far below.
    """
    D, H = problem[spec]
    V = _block(7, 5, seed=1)
    errors = [_rel(FiniteDifferenceOperator(Objective(problem["G"], D, problem["z0"]), eps=eps, chunk=4).matmat(V),
                   H @ V) for eps in (1e-4, 1e-5)]
    assert errors[1] <= 1e-7
    assert 60 < errors[0] / errors[1] < 160  # second order: 10x smaller step, 100x smaller error
    # products scale with |v| (the step is taken along v / |v|)
    op = FiniteDifferenceOperator(Objective(problem["G"], D, problem["z0"]), eps=1e-5)
    assert _rel(op.matvec(3 * V[:, 0]), 3 * (H @ V[:, 0])) <= 1e-7


@pytest.mark.parametrize("bad", [torch.zeros(6, 2, dtype=torch.float64), torch.zeros(7, dtype=torch.float64),
                                 torch.zeros(7, 2, 1, dtype=torch.float64), [[0.0] * 2] * 7])
def test_bad_blocks_are_input_errors_naming_the_argument(problem, bad):
    op = GaussNewtonOperator(Objective(problem["G"], problem["mse"][0], problem["z0"]))
    with pytest.raises(InputError, match=r"V must be a block of shape \(7, m\)"):
        op.matmat(bad)


def test_bad_vector_is_an_input_error(problem):
    op = FwdOverRevOperator(Objective(problem["G"], problem["mse"][0], problem["z0"]))
    with pytest.raises(InputError, match=r"v must be a vector of shape \(7,\)"):
        op.matvec(torch.zeros(7, 1, dtype=torch.float64))


@pytest.mark.parametrize("eps, match", [(0.0, "eps must be a finite number > 0, got 0"), (-1e-3, "> 0"),
                                        (float("nan"), "finite"), ("big", "real number")])
def test_finite_difference_step_is_validated(problem, eps, match):
    """eps = 0 used to divide by zero (NaN products, then a LinAlgError deep in Lanczos)."""
    obj = Objective(problem["G"], problem["mse"][0], problem["z0"])
    with pytest.raises(InputError, match=match) as info:
        FiniteDifferenceOperator(obj, eps=eps)
    assert info.value.argument == "eps"


@pytest.mark.parametrize("chunk", [0, -2, 2.5])
def test_chunk_is_validated(problem, chunk):
    obj = Objective(problem["G"], problem["mse"][0], problem["z0"])
    with pytest.raises(InputError, match="chunk must be"):
        GaussNewtonOperator(obj, chunk=chunk)
