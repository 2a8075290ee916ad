"""Lanczos in torch, on the operator's own device, with full reorthogonalisation."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import torch

from .._progress import progress_bar
from ..errors import NumericalWarning


@dataclass(frozen=True)
class LanczosResult:
    """Top-k eigenpairs of a symmetric operator.

    Attributes:
        eigvals: (k,), descending.
        eigvecs: (n, k), orthonormal columns.
        residuals: (k,), ``||H v - lambda v||`` computed with one extra block product.
        converged: every residual <= tol * max(|eigvals|).
        n_iter: Lanczos steps taken (single-vector products, plus k for the residuals).
    """

    eigvals: torch.Tensor
    eigvecs: torch.Tensor
    residuals: torch.Tensor
    converged: bool
    n_iter: int


def default_tol(dtype: torch.dtype) -> float:
    """Relative residual tolerance: 1e-5 in float32, 1e-10 in float64."""
    return 1e-10 if dtype == torch.float64 else 1e-5


def lanczos(matvec: Callable[[torch.Tensor], torch.Tensor], n: int, k: int, *,
            matmat: Callable[[torch.Tensor], torch.Tensor] | None = None, device=None,
            dtype: torch.dtype = torch.float32, max_iter: int | None = None, tol: float | None = None,
            seed: int = 0, check_every: int = 5, progress: bool = False) -> LanczosResult:
    """Largest-k eigenpairs of a symmetric n x n operator by Lanczos iteration.

    Full reorthogonalisation (twice, classical Gram-Schmidt) keeps the basis orthonormal
    to working precision. Convergence is checked every ``check_every`` steps from the Ritz
    estimates ``beta_m |s_{m,i}|``; on an invariant subspace (breakdown, e.g. a rank-r
    operator with r < k) a fresh random direction orthogonal to the basis continues it.

    Args:
        matvec: v (n,) -> H v (n,).
        n: dimension; k: number of eigenpairs (1 <= k <= n).
        matmat: optional batched V (n, m) -> H V, used once for the final residuals.
        device, dtype: of the Lanczos vectors.
        max_iter: Lanczos steps at most (default min(n, max(4k, k + 40))).
        tol: relative residual tolerance (default :func:`default_tol`).
        seed: seed of the start vector (a private ``torch.Generator``).
        progress: show a progress bar over steps.

    Returns:
        LanczosResult; warns :class:`NumericalWarning` with the residuals if not converged.
    """
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and n={n}, got {k}")
    tol = default_tol(dtype) if tol is None else tol
    max_iter = min(n, max_iter or max(4 * k, k + 40))
    max_iter = max(max_iter, k)
    gen = torch.Generator().manual_seed(int(seed))

    def random_unit():
        return torch.randn(n, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)

    Q = torch.zeros(n, max_iter + 1, device=device, dtype=dtype)
    q = random_unit()
    Q[:, 0] = q / q.norm()
    alphas, betas = [], []
    scale = None
    for j in progress_bar(range(max_iter), enable=progress, desc="lanczos", unit="it"):
        w = matvec(Q[:, j])
        alpha = torch.dot(Q[:, j], w)
        for _ in range(2):  # full reorthogonalisation against the whole basis
            w = w - Q[:, :j + 1] @ (Q[:, :j + 1].T @ w)
        beta = w.norm()
        alphas.append(alpha)
        scale = max(scale or 0.0, abs(float(alpha)), float(beta))
        if j + 1 == max_iter:
            betas.append(beta)
            break
        if float(beta) <= 1e3 * torch.finfo(dtype).eps * max(scale, 1e-300):
            # invariant subspace: restart in the orthogonal complement, decoupled (beta = 0)
            w = random_unit()
            for _ in range(2):
                w = w - Q[:, :j + 1] @ (Q[:, :j + 1].T @ w)
            Q[:, j + 1] = w / w.norm()
            betas.append(torch.zeros((), device=device, dtype=dtype))
            continue
        Q[:, j + 1] = w / beta
        betas.append(beta)
        m = j + 1
        if m >= k and (m % check_every == 0):
            theta, S = _tridiag_eigh(alphas, betas[:-1])
            est = float(beta) * S[-1, -k:].abs()
            if bool((est <= tol * theta.abs().max()).all()):
                break
    m = len(alphas)
    theta, S = _tridiag_eigh(alphas, betas[:m - 1])
    order = torch.argsort(theta, descending=True)[:k]
    vals = theta[order]
    vecs = Q[:, :m] @ S[:, order]
    vecs = vecs / vecs.norm(dim=0)
    HV = matmat(vecs) if matmat is not None else torch.stack([matvec(vecs[:, i]) for i in range(k)], dim=1)
    residuals = (HV - vecs * vals).norm(dim=0)
    converged = bool((residuals <= tol * vals.abs().max().clamp_min(torch.finfo(dtype).tiny)).all())
    if not converged:
        warnings.warn(f"Lanczos did not converge to tol={tol:g} in {m} steps; relative residuals "
                      f"{(residuals / vals.abs().max()).tolist()}", NumericalWarning, stacklevel=2)
    return LanczosResult(vals, vecs, residuals, converged, m)


def _tridiag_eigh(alphas, betas):
    a = torch.stack(alphas)
    T = torch.diag(a)
    if betas:
        b = torch.stack(betas)
        T = T + torch.diag(b, 1) + torch.diag(b, -1)
    # The small tridiagonal problem is solved in float64 on the same device.
    theta, S = torch.linalg.eigh(T.to(torch.float64))
    return theta.to(a.dtype), S.to(a.dtype)
