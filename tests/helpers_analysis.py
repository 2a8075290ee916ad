"""Synthetic generators and result files with known geometry, for the analysis tests."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

import ganmetric
from ganmetric.generators.base import Generator
from helpers import LinearGenerator


def prescribed_linear(eigvals, *, pixels: int = 16, seed: int = 0) -> LinearGenerator:
    """A linear generator whose mse metric (the same at every z) has exactly ``eigvals``: H = 2 A^T A / P."""
    lam = torch.as_tensor(eigvals, dtype=torch.float64)
    n = lam.numel()
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(pixels, n, generator=g, dtype=torch.float64))   # (P, n) orthonormal cols
    R, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))        # latent rotation
    A = Q @ torch.diag((lam * pixels / 2).sqrt()) @ R.T
    side = int(round(pixels ** 0.5))
    return LinearGenerator(A, shape=(1, side, side))


class SinGenerator(Generator):
    """x = sin(W z) with W = scale * Q (Q orthogonal, n x n): J(z) = diag(cos(W z)) W.

    H(z) = 2/n W^T diag(cos^2(W z)) W: its eigenvectors are the rows of Q, but which of
    them is the most important changes from point to point (the eigenvalues cos^2 are
    re-ranked), so the principal frame turns between points and the rank-wise consistency
    is that of random permutations: about 0.
    """

    def __init__(self, n: int = 9, scale: float = 3.0, seed: int = 0):
        super().__init__(name="sin", latent_dim=n, resolution=3)
        g = torch.Generator().manual_seed(seed)
        Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
        self.register_buffer("W", scale * Q)
        self.freeze()

    def _generate(self, z):
        return torch.sin(z @ self.W.T).reshape(z.shape[0], 1, 1, -1)


def fake_result(path, eigvals, *, eigvecs=None, H=True, seed=0, **meta):
    """Write a result file with the given spectrum (random eigenvectors unless given)."""
    lam = np.asarray(eigvals, dtype=np.float64)
    n = meta.pop("n", lam.size)
    if eigvecs is None:
        rng = np.random.default_rng(seed)
        eigvecs = np.linalg.qr(rng.standard_normal((n, n)))[0][:, :lam.size]
    full = (eigvecs * lam) @ eigvecs.T if H else None
    res = SimpleNamespace(eigvals=lam, eigvecs=eigvecs, z=np.zeros(n), H=full, method="jacobian" if H else "gn-lanczos")
    meta = {"model": "fake", "latent_space": "z", "distance": "mse", **meta}
    return ganmetric.save_result(path, res, **meta)
