"""Lanczos against torch.linalg.eigh on random, ill-conditioned and rank-deficient SPD matrices."""
from __future__ import annotations


import importlib

import pytest
import torch

from ganmetric.errors import InputError, NumericalWarning
from ganmetric.hessian.lanczos import lanczos

lanczos_module = importlib.import_module("ganmetric.hessian.lanczos")  # the package exports the function

# a solver that stops short warns NumericalWarning: an error here unless a test expects it
pytestmark = pytest.mark.filterwarnings("error::ganmetric.errors.NumericalWarning")


def _spd(eigvals: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(len(eigvals), len(eigvals), generator=g, dtype=torch.float64))
    return (Q * eigvals) @ Q.T


def _subspace_cos(U, V):
    """Smallest cosine of the principal angles between span(U) and span(V)."""
    return float(torch.linalg.svdvals(U.T @ V).min())


CASES = {
    "random": torch.linalg.eigvalsh((lambda A: A @ A.T / 200)(
        torch.randn(200, 200, generator=torch.Generator().manual_seed(0), dtype=torch.float64))).flip(0),
    "ill-conditioned": torch.logspace(0, -8, 200, dtype=torch.float64),  # condition number 1e8
    "gan-like": torch.cat([torch.logspace(0, -3, 30, dtype=torch.float64), torch.full((170,), 1e-6)]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_top_k_matches_eigh(case, device):
    H = _spd(CASES[case], seed=1).to(device)
    k = 10
    res = lanczos(lambda v: H @ v, 200, k, matmat=lambda V: H @ V, device=device, dtype=torch.float64, seed=0,
                  max_iter=150)  # the random (Marchenko-Pastur) edge is clustered: slow
    ref_vals, ref_vecs = torch.linalg.eigh(H)
    ref_vals, ref_vecs = ref_vals.flip(0)[:k], ref_vecs.flip(1)[:, :k]
    assert res.converged
    assert torch.allclose(res.eigvals, ref_vals, rtol=1e-10, atol=1e-14)
    assert _subspace_cos(res.eigvecs, ref_vecs) > 1 - 1e-8
    assert torch.allclose(res.eigvecs.T @ res.eigvecs, torch.eye(k, dtype=torch.float64, device=device), atol=1e-10)
    # reported residuals are the true ||H v - lambda v||
    true = (H @ res.eigvecs - res.eigvecs * res.eigvals).norm(dim=0)
    assert torch.allclose(res.residuals, true, atol=1e-14)


def test_float32_on_ill_conditioned():
    H = _spd(CASES["ill-conditioned"], seed=2).float()
    res = lanczos(lambda v: H @ v, 200, 5, dtype=torch.float32, seed=3)
    ref = torch.linalg.eigvalsh(H.double()).flip(0)[:5]
    assert torch.allclose(res.eigvals.double(), ref, rtol=1e-4)


def test_rank_deficient_operator_continues_past_breakdown():
    vals = torch.cat([torch.tensor([5.0, 3.0, 1.0], dtype=torch.float64), torch.zeros(47, dtype=torch.float64)])
    H = _spd(vals, seed=4)
    res = lanczos(lambda v: H @ v, 50, 6, dtype=torch.float64, seed=0)
    assert torch.allclose(res.eigvals[:3], vals[:3], rtol=1e-10)
    assert res.eigvals[3:].abs().max() < 1e-10
    assert res.converged


def test_nonconvergence_warns_with_residuals():
    H = _spd(torch.linspace(1, 0.99, 300, dtype=torch.float64), seed=5)  # clustered: slow convergence
    with pytest.warns(NumericalWarning, match="residuals"):
        res = lanczos(lambda v: H @ v, 300, 10, dtype=torch.float64, max_iter=12, seed=0)
    assert not res.converged


def test_seed_is_reproducible_and_k_validated():
    H = _spd(CASES["random"], seed=6)
    a = lanczos(lambda v: H @ v, 200, 3, dtype=torch.float64, seed=7, max_iter=150)
    b = lanczos(lambda v: H @ v, 200, 3, dtype=torch.float64, seed=7, max_iter=150)
    assert a.converged
    assert torch.equal(a.eigvecs, b.eigvecs)  # bitwise on purpose: same seed, same code, same inputs
    with pytest.raises(ValueError):
        lanczos(lambda v: H @ v, 200, 0)


@pytest.mark.parametrize("kw, argument, match", [
    ({"k": 0}, "k", "k must be between 1 and n=20, got 0"), ({"k": 21}, "k", "k must be between 1 and n=20"),
    ({"max_iter": 0}, "max_iter", "max_iter must be at least 1"),
    ({"max_iter": 2}, "max_iter", r"max_iter must be at least k \(3\), got 2"),
    ({"tol": 0.0}, "tol", "tol must be a finite number > 0"), ({"tol": float("nan")}, "tol", "finite"),
    ({"seed": 1.5}, "seed", "seed must be an integer"), ({"check_every": 0}, "check_every", "at least 1")])
def test_bad_options_are_input_errors_naming_the_argument(kw, argument, match):
    kw = {"k": 3, **kw}
    with pytest.raises(InputError, match=match) as info:
        lanczos(lambda v: v, 20, dtype=torch.float64, **kw)
    assert info.value.argument == argument


def test_progress_bar_advances_once_per_step(monkeypatch):
    """One update per Lanczos step (one product each), on a bar whose total is the step budget."""
    bars = []

    class Bar:
        def __init__(self, iterable, enable, total, **kw):
            self.total, self.n, self.closed = total, 0, False
            bars.append(self)

        def update(self, n=1):
            self.n += n

        def close(self):
            self.closed = True

    monkeypatch.setattr(lanczos_module, "progress_bar", Bar)
    H = _spd(CASES["gan-like"], seed=8)
    res = lanczos(lambda v: H @ v, 200, 5, dtype=torch.float64, seed=0, progress=True)
    (bar,) = bars
    assert bar.n == res.n_iter < bar.total == 45 and bar.closed  # default budget max(4k, k + 40); it converged early
