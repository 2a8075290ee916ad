"""Block Lanczos (ganmetric/hessian/lanczos.py: block_lanczos) against eigvalsh."""
import importlib

import pytest
import torch

from ganmetric.errors import InputError
from ganmetric.hessian.lanczos import block_lanczos

lanczos_module = importlib.import_module("ganmetric.hessian.lanczos")  # the package exports the function

# a solver that stops short warns NumericalWarning: an error here unless a test expects it
pytestmark = pytest.mark.filterwarnings("error::ganmetric.errors.NumericalWarning")


def _spd(n, cond, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    ev = torch.logspace(0, -torch.log10(torch.tensor(float(cond))).item(), n, dtype=torch.float64)
    return (Q * ev) @ Q.T, ev, Q


@pytest.mark.parametrize("n,cond,k", [(100, 1e2, 20), (300, 1e8, 20), (40, 1e8, 40), (200, 10.0, 5)])
def test_top_k_eigenpairs_match_eigvalsh(n, cond, k):
    A, ev, Q = _spd(n, cond)
    calls = []
    res = block_lanczos(lambda V: calls.append(V.shape[1]) or A @ V, n, k, dtype=torch.float64, max_iter=n)
    assert res.converged
    assert torch.allclose(res.eigvals, ev[:k], rtol=1e-8, atol=1e-12)
    # the Ritz vectors span the top-k eigenspace (cosines of principal angles ~ 1)
    assert torch.linalg.svdvals(Q[:, :k].T @ res.eigvecs).min() > 1 - 1e-6
    assert torch.allclose(res.eigvecs.T @ res.eigvecs, torch.eye(k, dtype=torch.float64), atol=1e-10)
    # the reported residuals are the true ones, and products came in blocks (no single-vector calls)
    true_res = (A @ res.eigvecs - res.eigvecs * res.eigvals).norm(dim=0)
    assert torch.allclose(res.residuals, true_res, atol=1e-10)
    assert sum(calls) == res.n_iter and all(c > 1 for c in calls[:-1])


def test_rank_deficient_operator_continues_with_fresh_directions():
    g = torch.Generator().manual_seed(1)
    B = torch.randn(150, 4, generator=g, dtype=torch.float64)
    A = B @ B.T  # rank 4 < k
    res = block_lanczos(lambda V: A @ V, 150, 8, dtype=torch.float64)
    ref = torch.linalg.eigvalsh(A).flip(0)[:8]
    assert res.converged
    assert torch.allclose(res.eigvals, ref, atol=1e-10 * float(ref[0]))


def test_float32_top20_within_1e5():
    A, ev, _ = _spd(256, 1e3, seed=2)
    res = block_lanczos(lambda V: A.float() @ V, 256, 20, dtype=torch.float32)
    assert res.converged
    assert float(((res.eigvals.double() - ev[:20]).abs() / ev[:20]).max()) < 1e-5


def test_bad_k():
    with pytest.raises(ValueError, match="k must be between 1 and n=5"):
        block_lanczos(lambda V: V, 5, 6)


@pytest.mark.parametrize("kw, argument", [({"block": 0}, "block"), ({"max_iter": 4}, "max_iter"),
                                          ({"tol": -1.0}, "tol"), ({"seed": "x"}, "seed")])
def test_bad_options_are_input_errors_naming_the_argument(kw, argument):
    with pytest.raises(InputError, match=argument) as info:
        block_lanczos(lambda V: V, 20, 5, **kw)
    assert info.value.argument == argument


def test_progress_bar_advances_per_product(monkeypatch):
    """The bar counts products (a block of them per step), up to the products computed; no manual
    ``next()`` driving it."""
    bars = []

    class Bar:
        def __init__(self, iterable, enable, total, **kw):
            self.total, self.updates, self.closed = total, [], False
            bars.append(self)

        def update(self, n=1):
            self.updates.append(n)

        def close(self):
            self.closed = True

    monkeypatch.setattr(lanczos_module, "progress_bar", Bar)
    A, _, _ = _spd(100, 1e2)
    res = block_lanczos(lambda V: A @ V, 100, 6, dtype=torch.float64, progress=True)
    (bar,) = bars
    assert res.converged and bar.closed and bar.total == 100
    assert sum(bar.updates) == res.n_iter and bar.updates[0] == 6 and len(bar.updates) > 1
