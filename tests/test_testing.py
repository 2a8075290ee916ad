"""ganmetric.testing, the shipped references: closed forms for the references themselves, and check_metric
catching wrong metrics (a wrong scale, a wrong span) while passing right ones."""
from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
import torch

import ganmetric
from ganmetric.errors import InputError
from ganmetric.hessian import Method
from ganmetric.testing import MetricCheckError, check_metric, dense_hessian, quadratic_forms
from helpers import LinearGenerator, TinyConvGenerator


@pytest.fixture(scope="module")
def linear():
    """G(z) = A z with mse, float32 as a user's model would be: H = 2 A^T A / N (N = 16 pixels)."""
    A = torch.randn(16, 5, generator=torch.Generator().manual_seed(0)).double()  # float32 values, held exactly
    return LinearGenerator(A.float()), ganmetric.load_distance("mse"), 2 * A.T @ A / 16


def test_dense_hessian_is_the_closed_form_and_leaves_the_callers_modules(linear):
    G, D, H = linear
    z = torch.ones(5)
    out = dense_hessian(G, D, z)
    assert out.dtype == torch.float64 and out.shape == (5, 5)
    torch.testing.assert_close(out, H, rtol=1e-12, atol=1e-14)
    assert G.A.dtype == torch.float32  # copies were converted, not the caller's generator


def test_quadratic_forms_are_exact_on_a_closed_form(linear):
    """The oracle itself, with no engine to check it: v^T H v for unit rows, no warning."""
    G, D, H = linear
    V = torch.randn(4, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    V = V / V.norm(dim=1, keepdim=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fd = quadratic_forms(G, D, torch.ones(5), V)
    torch.testing.assert_close(fd, torch.einsum("mi,ij,mj->m", V, H, V), rtol=1e-8, atol=0)


def test_dense_hessian_of_a_layer_distance_follows_its_generator():
    """A distance of G's own layers is copied with G: the copy reads the copied G's activations (the output
    layer of this net is its image, so the layer metric is the mse metric)."""
    G = TinyConvGenerator(n=4, seed=0, res=8)
    z = G.sample(1, seed=1)
    last = [name for name, _ in G.named_modules()][-1]
    layer = dense_hessian(G, ganmetric.load_distance(f"layer:{last}", generator=G), z)
    torch.testing.assert_close(layer, dense_hessian(G, ganmetric.load_distance("mse"), z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method, k", [("jacobian", None), ("gn-lanczos", 3), ("fwd-over-rev", 2)])
def test_check_metric_passes_a_right_metric(method, k):
    G = TinyConvGenerator(n=6, seed=1, res=8)
    check = check_metric(G, ganmetric.load_distance("mse"), G.sample(1, seed=3), method=method, k=k)
    assert check.passed and check.method == method and check.max_error < 1e-8
    assert check.result.eigvals.dtype == torch.float64  # computed on the float64 copies
    assert len(check.errors) == (4 if k is None else 5)


def _wrong(monkeypatch, name, change):
    """A METHODS entry that runs jacobian and then changes its solution."""
    def run(obj, s):
        return change(ganmetric.METHODS["jacobian"].run(obj, s))
    monkeypatch.setitem(ganmetric.METHODS, name, Method("a wrong method", True, "full", run, frozenset({"chunk"})))


def test_check_metric_catches_a_missing_factor_2(monkeypatch):
    G = TinyConvGenerator(n=6, seed=1, res=8)
    _wrong(monkeypatch, "half", lambda sol: replace(sol, eigvals=sol.eigvals / 2))
    with pytest.raises(MetricCheckError, match=r"^half on tiny-conv with mse: top eigenvector: off by 0\.5 of "
                                               r"lambda_1 .*\(tolerance 1e-06\)"):
        check_metric(G, ganmetric.load_distance("mse"), G.sample(1, seed=3), method="half")


def test_check_metric_catches_a_span_that_is_not_the_top(monkeypatch):
    """The top 2 of a wrong metric: eigenpairs 3 and 4 of the right one, their eigenvalues right. Within the span
    everything agrees; only the checks outside it can see that it is not the top of the spectrum."""
    G = TinyConvGenerator(n=6, seed=1, res=8)

    def lower(sol):
        return replace(sol, eigvals=sol.eigvals[2:4], eigvecs=sol.eigvecs[:, 2:4], H=None)

    monkeypatch.setitem(ganmetric.METHODS, "lower", Method("wrong span", True, "top-k",
                                                           lambda obj, s: lower(ganmetric.METHODS["jacobian"].run(
                                                               obj, replace(s, k=None))), frozenset({"chunk"})))
    with pytest.raises(MetricCheckError, match="w outside the"):
        check_metric(G, ganmetric.load_distance("mse"), G.sample(1, seed=3), method="lower", k=2)
    errors = check_metric(G, ganmetric.load_distance("mse"), G.sample(1, seed=3), method="lower", k=2,
                          rtol=10.0).errors
    assert max(v for name, v in errors.items() if "in the top-2 span" in name) < 1e-8


@pytest.mark.parametrize("call, argument", [
    (lambda G, D: dense_hessian(G, D, torch.ones(2, 5)), "z"),
    (lambda G, D: quadratic_forms(G, D, torch.ones(5), torch.ones(3, 4)), "V"),
    (lambda G, D: quadratic_forms(G, D, torch.ones(5), [[1.0] * 5]), "V"),
    (lambda G, D: quadratic_forms(G, D, torch.ones(5), torch.ones(3, 5), step=0.0), "step"),
    (lambda G, D: check_metric(G, D, torch.ones(5), method="jacobian", rtol=-1.0), "rtol"),
    (lambda G, D: check_metric(G, D, torch.ones(5), method="jacobian", probes=0), "probes"),
    (lambda G, D: check_metric(G, D, torch.ones(5), method="jacobian", seed=-1), "seed"),
    (lambda G, D: check_metric(G, D, torch.ones(5), method="jacobian", step=float("nan")), "step"),
    (lambda G, D: check_metric(G, D, torch.ones(5), method="no-such-method"), "method"),
])
def test_bad_input_names_the_argument(linear, call, argument):
    G, D, _ = linear
    with pytest.raises(InputError) as info:
        call(G, D)
    assert info.value.argument == argument
