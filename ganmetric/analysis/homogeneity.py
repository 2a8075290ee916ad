"""Homogeneity of the metric across points: do the same directions matter everywhere?

For every ordered pair of points (i, j) with eigenpairs (lambda_i, U_i), (lambda_j, U_j)
(eigenvalues descending on both sides) and metric H_j:

    vHv_ij[k] = u_k(i)^T H_j u_k(i)                       k = 1..K

- log-scale consistency ``corr_log[i, j] = corr_k(log10 vHv_ij[k], log10 lambda_j[k])``
  over the ranks where both are positive (the others are masked);
- linear-scale consistency ``corr_linear[i, j] = corr_k(vHv_ij[k], lambda_j[k])``;
- ``corr_vec[i, j] = corr(vec H_i, vec H_j)`` over the n^2 entries.

If H_j = H_i the eigenvectors of i reproduce j's spectrum exactly and both consistencies
are 1. Everything is computed with batched matrix products: vHv for a block of points i
is one GEMM of the outer products ``u_k(i) u_k(i)^T`` against all ``vec H_j``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import checks
from .._progress import progress_bar
from ..errors import InputError
from .results import ResultSet

#: bytes of outer products held at once while computing vHv
BLOCK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Homogeneity:
    """Pairwise consistency of N metrics.

    Attributes:
        corr_log, corr_linear, corr_vec: (N, N) matrices (rows i, columns j); NaN where
            undefined (fewer than 2 unmasked ranks, or a constant vector).
        full: every H was stored (False: some were reconstructed from top-k eigenpairs).
    """

    corr_log: np.ndarray
    corr_linear: np.ndarray
    corr_vec: np.ndarray
    full: bool

    def summary(self) -> dict:
        """Mean and median of the off-diagonal entries of each matrix (NaNs ignored)."""
        N = self.corr_log.shape[0]
        off = ~np.eye(N, dtype=bool)
        out = {"n_points": N, "n_pairs": int(off.sum()), "full_metrics": self.full}
        for name in ("corr_log", "corr_linear", "corr_vec"):
            vals = getattr(self, name)[off]
            vals = vals[np.isfinite(vals)]
            out[name] = {"mean": float(vals.mean()) if vals.size else None,
                         "median": float(np.median(vals)) if vals.size else None,
                         "n_defined": int(vals.size)}
        return out


def masked_corr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Pearson correlation along the last axis over entries where ``mask`` (NaN if < 2 or constant)."""
    m = mask.to(x.dtype)
    cnt = m.sum(-1)
    x, y = torch.where(mask, x, 0.0), torch.where(mask, y, 0.0)
    mx = (x * m).sum(-1) / cnt.clamp_min(1)
    my = (y * m).sum(-1) / cnt.clamp_min(1)
    dx, dy = (x - mx[..., None]) * m, (y - my[..., None]) * m
    cov = (dx * dy).sum(-1)
    var = (dx * dx).sum(-1) * (dy * dy).sum(-1)
    ok = (cnt >= 2) & (var > 0)
    return torch.where(ok, cov / var.clamp_min(1e-300).sqrt(), torch.full_like(cov, float("nan")))


def vhv_blocks(eigvecs: torch.Tensor, metrics: torch.Tensor, *, block_bytes: int = BLOCK_BYTES,
               progress: bool = False):
    """Yield ``(start, vHv[start:start + b])`` with ``vHv[i, j, k] = u_k(i)^T H_j u_k(i)``, one GEMM per block.

    Args:
        eigvecs: (N, n, K) eigenvectors (columns) of each point.
        metrics: (N, n, n) symmetric metrics.
        block_bytes: memory for the outer products of one block (sets how many points i per GEMM).
        progress: show a progress bar.

    Yields:
        (start, tensor of shape (b, N, K)).
    """
    N, n, K = eigvecs.shape
    # symmetric H: sum_ab u_a u_b H_ab = sum_a u_a^2 H_aa + 2 sum_{a<b} u_a u_b H_ab (half the work)
    iu = torch.triu_indices(n, n, offset=1, device=metrics.device)
    diag = torch.arange(n, device=metrics.device)
    Hflat = torch.cat([metrics[:, diag, diag], 2 * metrics[:, iu[0], iu[1]]], dim=1)  # (N, n(n+1)/2)
    per_point = K * Hflat.shape[1] * Hflat.element_size()
    block = max(1, min(N, block_bytes // max(per_point, 1)))
    starts = range(0, N, block)
    for s in progress_bar(starts, enable=progress, total=len(starts), desc="vHv", unit="block"):
        U = eigvecs[s:s + block]                                                   # (b, n, K)
        outer = torch.cat([U * U, U[:, iu[0]] * U[:, iu[1]]], dim=1)                # (b, n(n+1)/2, K)
        yield s, torch.einsum("bpk,jp->bjk", outer, Hflat)                          # one GEMM


def vhv_matrix(eigvecs: torch.Tensor, metrics: torch.Tensor, *, block_bytes: int = BLOCK_BYTES) -> torch.Tensor:
    """All of ``vHv`` as one (N, N, K) tensor (memory N^2 K; :func:`homogeneity` streams blocks instead)."""
    return torch.cat([blk for _, blk in vhv_blocks(eigvecs, metrics, block_bytes=block_bytes)], dim=0)


def homogeneity(results: ResultSet, *, device="cpu", progress: bool = False) -> Homogeneity:
    """Consistency of the metric across every ordered pair of points (see the module docstring).

    Args:
        results: at least 2 points, from :func:`~ganmetric.analysis.load_results`. Top-k
            results use ``H`` reconstructed from their k eigenpairs.
        device: where to compute ("cuda" pays off for large latent sizes: the cost is
            about N^2 n^2 K flops).
        progress: show a progress bar.

    Returns:
        The :class:`Homogeneity`: three (N, N) matrices, rows i (eigenvectors), columns j (metrics).

    Raises:
        InputError: fewer than 2 points, or an unavailable device.
    """
    if len(results) < 2:
        raise InputError(f"homogeneity needs at least 2 points, got {len(results)}", argument="results")
    dev = checks.device(device)
    U = torch.from_numpy(results.eigvecs).to(dev)                          # (N, n, K) float64
    lam = torch.from_numpy(results.eigvals).to(dev)                        # (N, K)
    H = torch.from_numpy(results.metrics()).to(dev)                        # (N, n, n)
    H = (H + H.transpose(1, 2)) / 2
    N = U.shape[0]
    corr_log = torch.empty(N, N, dtype=H.dtype, device=dev)
    corr_lin = torch.empty(N, N, dtype=H.dtype, device=dev)
    for s, vhv in vhv_blocks(U, H, progress=progress):                    # vhv: (b, N, K)
        lam_j = lam[None].expand_as(vhv)
        pos = (vhv > 0) & (lam_j > 0)
        corr_log[s:s + len(vhv)] = masked_corr(torch.log10(vhv.clamp_min(1e-300)),
                                                torch.log10(lam_j.clamp_min(1e-300)), pos)
        corr_lin[s:s + len(vhv)] = masked_corr(vhv, lam_j, torch.ones_like(pos))
    Hv = H.reshape(N, -1)
    Hv = Hv - Hv.mean(dim=1, keepdim=True)
    norms = Hv.norm(dim=1)
    gram = Hv @ Hv.T
    denom = norms[:, None] * norms[None, :]
    corr_vec = torch.where(denom > 0, gram / denom.clamp_min(1e-300), torch.full_like(gram, float("nan")))
    return Homogeneity(corr_log=corr_log.cpu().numpy(), corr_linear=corr_lin.cpu().numpy(),
                       corr_vec=corr_vec.cpu().numpy(), full=results.full)
