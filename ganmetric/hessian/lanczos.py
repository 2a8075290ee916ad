"""Lanczos in torch, on the operator's own device, with full reorthogonalisation.

:func:`lanczos` (single vector, the paper's baselines) and :func:`block_lanczos` (a block of
products per call, ours) share their option checks, their seeded start vectors, their
progress bar (advancing per product) and their convergence test. The basis and the products
stay on the operator's device; the start vectors are drawn on the CPU (a private generator:
the same on every device) and the small projected eigenproblem is solved on the CPU in
float64 (MPS has no float64).
"""
from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Callable

import torch

from .. import checks
from .._progress import progress_bar
from ..errors import InputError, NumericalWarning
from ..linalg import check_finite


@dataclass(frozen=True)
class LanczosResult:
    """Top-k eigenpairs of a symmetric operator.

    Attributes:
        eigvals: (k,), descending.
        eigvecs: (n, k), orthonormal columns.
        residuals: (k,), ``||H v - lambda v||`` computed with one extra block product.
        converged: every residual <= tol * max(|eigvals|).
        n_iter: :func:`lanczos`: steps taken (single-vector products; the final residuals
            cost k more); :func:`block_lanczos`: products computed (its residuals come from
            stored products).
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
        n: the dimension.
        k: the number of eigenpairs (1 <= k <= n).
        matmat: optional batched V (n, m) -> H V, used once for the final residuals.
        device, dtype: of the Lanczos vectors.
        max_iter: Lanczos steps at most, >= k (default min(n, max(4k, k + 40))).
        tol: relative residual tolerance, > 0 (default :func:`default_tol`).
        seed: seed of the start vector (a private ``torch.Generator``).
        check_every: steps between convergence checks (>= 1).
        progress: show a progress bar that advances per step (one product each).

    Returns:
        LanczosResult; warns :class:`NumericalWarning` with the residuals if not converged.

    Raises:
        InputError: k, max_iter, tol, seed or check_every out of range.
    """
    tol, steps = _options(n, k, max_iter, tol, seed, dtype, default_steps=max(4 * k, k + 40))
    checks.positive_int("check_every", check_every)
    draws = _Draws(n, seed, device, dtype)
    basis = _LanczosBasis(draws.vector(), steps)
    bar = _product_bar(progress, steps, "lanczos")
    try:
        for j in range(steps):
            beta = basis.step(j, matvec, draws, last=j + 1 == steps)
            bar.update(1)
            due = j + 1 >= k and (j + 1) % check_every == 0
            if beta is not None and due and basis.ritz_estimates_converged(beta, k, tol):
                break
    finally:
        bar.close()
    vals, vecs = basis.ritz_pairs(k)
    HV = matmat(vecs) if matmat is not None else torch.stack([matvec(vecs[:, i]) for i in range(k)], dim=1)
    residuals = (HV - vecs * vals).norm(dim=0)
    converged = _converged(residuals, vals, tol)
    if not converged:
        _warn(f"Lanczos did not converge to tol={tol:g} in {basis.size} steps", residuals, vals)
    return LanczosResult(vals, vecs, residuals, converged, basis.size)


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
        n: the dimension.
        k: the number of eigenpairs (1 <= k <= n).
        block: vectors per step (default k).
        device, dtype: of the basis.
        max_iter: single-vector products at most, >= k (default min(n, max(25k, k + 200)):
            batched products are cheap, and a nearly flat spectrum (e.g. a random-weight DCGAN
            at n = 1024) needs ~400 for the top 20; it stops at convergence, and a basis of n is exact).
        tol: relative residual tolerance, > 0 (default :func:`default_tol`).
        seed: seed of the start block (a private ``torch.Generator``).
        progress: show a progress bar that advances per product.

    Returns:
        LanczosResult (``n_iter``: products computed); warns :class:`NumericalWarning` with
        the residuals if not converged.

    Raises:
        InputError: k, block, max_iter, tol or seed out of range.
    """
    tol, budget = _options(n, k, max_iter, tol, seed, dtype, default_steps=max(25 * k, k + 200))
    b = max(1, min(k if block is None else checks.positive_int("block", block), n))
    draws = _Draws(n, seed, device, dtype)
    bar = _product_bar(progress, budget, "block lanczos")
    try:
        krylov = _BlockKrylov(matmat, draws, bar)
        krylov.append(draws.block(b))
        while True:
            vals, vecs, residuals = _rayleigh_ritz(krylov.basis, krylov.prods, k, dtype)
            converged = _converged(residuals, vals, tol)
            m = krylov.size
            if converged or m >= n or m >= budget:
                break
            krylov.append(krylov.newest_products(min(b, n - m, max(budget - m, 1))))
    finally:
        bar.close()
    if not converged:
        _warn(f"block Lanczos did not converge to tol={tol:g} with a basis of {m}", residuals, vals)
    return LanczosResult(vals, vecs, residuals, converged, m)


def _options(n: int, k, max_iter, tol, seed, dtype: torch.dtype, *, default_steps: int) -> tuple[float, int]:
    """Validated (tol, steps): steps = max_iter (or the default) capped at n, and at least k."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= n:
        raise InputError(f"k must be between 1 and n={n}, got {k}", argument="k")
    if max_iter is not None:
        checks.positive_int("max_iter", max_iter)
        if max_iter < k:
            raise InputError(f"max_iter must be at least k ({k}), got {max_iter}", argument="max_iter")
    checks.seed("seed", seed)
    tol = default_tol(dtype) if tol is None else checks.positive_float("tol", tol)
    return tol, max(min(n, max_iter or default_steps), k)


class _Draws:
    """Random directions from a private seeded generator (drawn in float64, then cast)."""

    def __init__(self, n: int, seed: int, device, dtype: torch.dtype):
        self.n, self.device, self.dtype = n, device, dtype
        self.gen = torch.Generator(device="cpu").manual_seed(int(seed))  # the same draws on every device

    def vector(self) -> torch.Tensor:
        return torch.randn(self.n, generator=self.gen, dtype=torch.float64, device="cpu").to(device=self.device,
                                                                                              dtype=self.dtype)

    def block(self, m: int) -> torch.Tensor:
        return torch.randn(self.n, m, generator=self.gen, dtype=torch.float64, device="cpu").to(device=self.device,
                                                                                                 dtype=self.dtype)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _product_bar(enable: bool, total: int, desc: str):
    """A tqdm bar (through ganmetric._progress) advanced by hand per product, or a silent stand-in."""
    if not enable:
        return _NoBar()
    return progress_bar(None, enable=True, total=total, desc=desc, unit="product")


def _converged(residuals: torch.Tensor, vals: torch.Tensor, tol: float) -> bool:
    """Every residual within tol of the largest |eigenvalue|."""
    top = vals.abs().max().clamp_min(torch.finfo(vals.dtype).tiny)
    return bool((residuals <= tol * top).all())


def _warn(what: str, residuals: torch.Tensor, vals: torch.Tensor) -> None:
    top = vals.abs().max().clamp_min(torch.finfo(vals.dtype).tiny)
    # stacklevel 3: the warning points at whoever called lanczos / block_lanczos
    warnings.warn(f"{what}; relative residuals {(residuals / top).tolist()}", NumericalWarning, stacklevel=3)


class _LanczosBasis:
    """The Lanczos vectors Q (n, steps + 1) and the tridiagonal coefficients alpha, beta."""

    def __init__(self, q0: torch.Tensor, steps: int):
        self.Q = torch.zeros(q0.shape[0], steps + 1, device=q0.device, dtype=q0.dtype)
        self.Q[:, 0] = q0 / q0.norm()
        self.alphas: list[torch.Tensor] = []
        self.betas: list[torch.Tensor] = []
        self.scale = 0.0  # largest |alpha| or beta so far: the breakdown test is relative to it

    @property
    def size(self) -> int:
        """Steps taken (one product each)."""
        return len(self.alphas)

    def _orthogonalise(self, w: torch.Tensor, j: int) -> torch.Tensor:
        for _ in range(2):  # full reorthogonalisation against the whole basis
            w = w - self.Q[:, :j + 1] @ (self.Q[:, :j + 1].T @ w)
        return w

    def step(self, j: int, matvec, draws: _Draws, *, last: bool) -> torch.Tensor | None:
        """One product and recurrence step; returns beta_j, or None on the last step or after a restart."""
        w = matvec(self.Q[:, j])
        alpha = torch.dot(self.Q[:, j], w)
        w = self._orthogonalise(w, j)
        beta = w.norm()
        self.alphas.append(alpha)
        self.scale = max(self.scale, abs(float(alpha)), float(beta))
        if last:
            self.betas.append(beta)
            return None
        if float(beta) <= 1e3 * torch.finfo(w.dtype).eps * max(self.scale, 1e-300):
            # invariant subspace: restart in the orthogonal complement, decoupled (beta = 0)
            w = self._orthogonalise(draws.vector(), j)
            self.Q[:, j + 1] = w / w.norm()
            self.betas.append(torch.zeros((), device=w.device, dtype=w.dtype))
            return None
        self.Q[:, j + 1] = w / beta
        self.betas.append(beta)
        return beta

    def ritz_estimates_converged(self, beta: torch.Tensor, k: int, tol: float) -> bool:
        """Whether the top-k Ritz estimates ``beta |s_{m,i}|`` are all within tol."""
        theta, S = _tridiag_eigh(self.alphas, self.betas[:-1])
        est = float(beta) * S[-1, -k:].abs()
        return bool((est <= tol * theta.abs().max()).all())

    def ritz_pairs(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The top-k Ritz values (descending) and unit Ritz vectors (n, k)."""
        m = self.size
        theta, S = _tridiag_eigh(self.alphas, self.betas[:m - 1])
        order = torch.argsort(theta, descending=True)[:k]
        vecs = self.Q[:, :m] @ S[:, order]
        return theta[order], vecs / vecs.norm(dim=0)


def _tridiag_eigh(alphas, betas):
    a = torch.stack(alphas)
    T = torch.diag(a)
    if betas:
        b = torch.stack(betas)
        T = T + torch.diag(b, 1) + torch.diag(b, -1)
    check_finite(T, "the Lanczos tridiagonal matrix of the metric at this code")
    theta, S = _small_eigh(T)
    return theta.to(device=a.device, dtype=a.dtype), S.to(device=a.device, dtype=a.dtype)


def _small_eigh(T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """eigh of a small projected matrix, in float64 on the CPU (ascending; CPU float64 results).

    MPS has no float64, and solving it on the CPU makes the Ritz values the same number
    whatever device computed the products (an (m, m) copy, m the basis size, costs nothing
    next to the products).
    """
    return torch.linalg.eigh(T.detach().to(device="cpu", dtype=torch.float64))


class _BlockKrylov:
    """A block Krylov basis Q with its stored products W = H Q (Rayleigh-Ritz needs no more)."""

    def __init__(self, matmat, draws: _Draws, bar):
        self.matmat, self.draws, self.bar = matmat, draws, bar
        self.basis: torch.Tensor | None = None
        self.prods: torch.Tensor | None = None
        self.newest = 0  # columns of the newest block

    @property
    def size(self) -> int:
        return self.basis.shape[1]

    def append(self, R: torch.Tensor) -> None:
        """Orthonormalise R against the basis, apply the operator to it in one call, keep both."""
        Q = _orthonormal_block(R, self.basis, self.draws)
        HQ = self.matmat(Q)
        self.bar.update(Q.shape[1])
        self.basis = Q if self.basis is None else torch.cat([self.basis, Q], dim=1)
        self.prods = HQ if self.prods is None else torch.cat([self.prods, HQ], dim=1)
        self.newest = Q.shape[1]

    def newest_products(self, width: int) -> torch.Tensor:
        """The next Krylov directions: H Q of the newest block (its first ``width`` columns)."""
        return self.prods[:, self.size - self.newest:][:, :width].clone()


def _orthonormal_block(R: torch.Tensor, Q: torch.Tensor | None, draws: _Draws) -> torch.Tensor:
    """R orthogonalised against the basis Q (twice), then orthonormalised; dead columns -> random ones."""
    finfo = torch.finfo(draws.dtype)
    scale = R.norm(dim=0).clamp_min(finfo.tiny)
    for _attempt in range(3):
        for _ in range(2):
            if Q is not None:
                R = R - Q @ (Q.T @ R)
        dead = R.norm(dim=0) <= 1e3 * finfo.eps * scale
        if not bool(dead.any()):
            break
        R = R.clone()
        R[:, dead] = draws.block(int(dead.sum()))
        scale = torch.where(dead, R.norm(dim=0), scale)
    Qb, _ = torch.linalg.qr(R)
    if Q is not None:  # QR can mix a little of Q back in: one more pass
        Qb, _ = torch.linalg.qr(Qb - Q @ (Q.T @ Qb))
    return Qb


def _rayleigh_ritz(basis: torch.Tensor, prods: torch.Tensor, k: int, dtype: torch.dtype):
    """Top-k Ritz values, vectors and residuals of the projected problem ``basis^T H basis``."""
    T = basis.T @ prods
    check_finite(T, "the projected metric (Rayleigh-Ritz) at this code")
    theta, S = _small_eigh((T + T.T) / 2)
    order = torch.argsort(theta, descending=True)[:k]
    vals, Sk = theta[order].to(device=basis.device, dtype=dtype), S[:, order].to(device=basis.device, dtype=dtype)
    vecs, HV = basis @ Sk, prods @ Sk
    return vals, vecs, (HV - vecs * vals).norm(dim=0)
