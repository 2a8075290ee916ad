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


def block_lanczos(matmat: Callable[[torch.Tensor], torch.Tensor], n: int, k: int, *, block: int | None = None,
                  device=None, dtype: torch.dtype = torch.float32, max_iter: int | None = None,
                  tol: float | None = None, seed: int = 0, progress: bool = False) -> LanczosResult:
    """Largest-k eigenpairs by block Krylov iteration with Rayleigh-Ritz (block Lanczos).

    Each step applies the operator to a whole block of ``block`` orthonormal vectors in one
    batched call (one ``vmap`` pass of ``block`` codes costs far less than ``block``
    single-vector passes), appends the block to the basis Q and its products to W = H Q,
    and solves the small projected problem ``Q^T H Q`` exactly. Because W is kept, the
    Ritz pairs' residuals ``||H x - theta x||`` come from stored products (``H Q S``): no
    extra products. Full reorthogonalisation (twice, classical Gram-Schmidt); columns that
    vanish (a rank-deficient operator) are replaced by fresh random directions.

    Args:
        matmat: V (n, m) -> H V (n, m), batched.
        n: dimension; k: number of eigenpairs (1 <= k <= n).
        block: vectors per step (default k).
        device, dtype: of the basis.
        max_iter: single-vector products at most (default min(n, max(25k, k + 200)): batched
            products are cheap, and a nearly flat spectrum (e.g. a random-weight DCGAN at
            n = 1024) needs ~400 for the top 20; it stops at convergence, and a basis of n is exact).
        tol: relative residual tolerance (default :func:`default_tol`).
        seed: seed of the start block (a private ``torch.Generator``).
        progress: show a progress bar over steps.

    Returns:
        LanczosResult (``n_iter``: products computed); warns :class:`NumericalWarning` with
        the residuals if not converged.
    """
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and n={n}, got {k}")
    tol = default_tol(dtype) if tol is None else tol
    b = max(1, min(block or k, n))
    budget = max(min(n, max_iter or max(25 * k, k + 200)), k)
    gen = torch.Generator().manual_seed(int(seed))
    eps = torch.finfo(dtype).eps

    def random_block(m):
        return torch.randn(n, m, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)

    def orthonormal_block(R, Q):
        # R against the basis Q (twice), then orthonormalised; dead columns -> random ones
        scale = R.norm(dim=0).clamp_min(torch.finfo(dtype).tiny)
        for attempt in range(3):
            for _ in range(2):
                if Q is not None:
                    R = R - Q @ (Q.T @ R)
            dead = R.norm(dim=0) <= 1e3 * eps * scale
            if not bool(dead.any()):
                break
            R = R.clone()
            R[:, dead] = random_block(int(dead.sum()))
            scale = torch.where(dead, R.norm(dim=0), scale)
        Qb, _ = torch.linalg.qr(R)
        if Q is not None:  # QR can mix a little of Q back in: one more pass
            Qb, _ = torch.linalg.qr(Qb - Q @ (Q.T @ Qb))
        return Qb

    Q = orthonormal_block(random_block(b), None)
    basis, prods = Q, matmat(Q)
    steps = progress_bar(range(-(-budget // b)), enable=progress, desc="block lanczos", unit="block")
    it = iter(steps)
    while True:
        next(it, None)
        T = basis.T @ prods
        theta, S = torch.linalg.eigh(((T + T.T) / 2).to(torch.float64))
        order = torch.argsort(theta, descending=True)[:k]
        vals, Sk = theta[order].to(dtype), S[:, order].to(dtype)
        vecs, HV = basis @ Sk, prods @ Sk
        residuals = (HV - vecs * vals).norm(dim=0)
        top = vals.abs().max().clamp_min(torch.finfo(dtype).tiny)
        converged = bool((residuals <= tol * top).all())
        m = basis.shape[1]
        if converged or m >= n or m >= budget:
            break
        width = min(b, n - m, max(budget - m, 1))
        # the next block: the Krylov directions H Q of the newest block, orthogonalised
        Q = orthonormal_block(prods[:, m - Q.shape[1]:][:, :width].clone(), basis)
        basis, prods = torch.cat([basis, Q], dim=1), torch.cat([prods, matmat(Q)], dim=1)
    if not converged:
        warnings.warn(f"block Lanczos did not converge to tol={tol:g} with a basis of {m}; relative residuals "
                      f"{(residuals / top).tolist()}", NumericalWarning, stacklevel=2)
    return LanczosResult(vals, vecs, residuals, converged, m)
