"""Synthetic generators and result files with known geometry, for the analysis tests."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from ganmetric.generators.base import Generator
from helpers import LinearGenerator, save_with


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


class RotatingGenerator(Generator):
    """G(z) = A R(z) z, with R(z) one of ``m`` random rotations picked by the cell of z_0.

    Inside a cell the Jacobian is the constant A R, so H(z) = 2/P R(z)^T A^T A R(z): the same
    spectrum everywhere, with an eigenbasis that rotates from cell to cell. Points in
    different cells see each other's top directions as random directions: low consistency.
    """

    def __init__(self, eigvals=(8.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625), m: int = 1024, seed: int = 0):
        lam = torch.as_tensor(eigvals, dtype=torch.float64)
        n = lam.numel()
        super().__init__(name="rotating", latent_dim=n, resolution=n)
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("A", torch.diag((lam * n / 2).sqrt()))     # P = n pixels: H = R^T diag(lam) R
        self.register_buffer("R", torch.linalg.qr(torch.randn(m, n, n, generator=g, dtype=torch.float64))[0])
        self.freeze()

    def cell(self, z):
        return (z[..., 0].detach() * 1000).floor().long() % self.R.shape[0]

    def _generate(self, z):
        R = self.R[self.cell(z)]                                           # (B, n, n), constant in a cell
        return ((R @ z[..., None])[..., 0] @ self.A.T).reshape(z.shape[0], 1, 1, -1)


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
    return save_with(path, res, **meta)


class _Traced(torch.nn.Module):
    """Calls a Generator's body directly so torch.jit.trace sees a plain module."""

    def __init__(self, g):
        super().__init__()
        self.g = g

    def forward(self, z):
        return self.g._generate(z)


def save_traced_tiny(path, *, n: int, res: int):
    """A TorchScript file of tests.helpers.TinyConvGenerator, loadable by a child process via --model."""
    from helpers import TinyConvGenerator
    torch.jit.trace(_Traced(TinyConvGenerator(n=n, res=res)), torch.zeros(2, n)).save(str(path))
    return path


class NanAtGenerator(Generator):
    """G(z) = tanh(A z), but not finite for codes whose first coordinate is above ``cut`` (set ``cut``
    to inf to mend it): a generator that fails at some points of a batch and not at others.

    ``what="image"``: NaN images there; ``what="derivative"``: finite images (the same as elsewhere)
    whose derivative is not finite (sqrt at 0).
    """

    def __init__(self, n: int = 4, cut: float = 0.5, what: str = "image"):
        super().__init__(name="nan-at", latent_dim=n, resolution=4)
        g = torch.Generator().manual_seed(0)
        self.register_buffer("A", torch.randn(16, n, generator=g, dtype=torch.float64))
        self.cut, self.what = cut, what
        self.freeze()

    def _generate(self, z):
        x = torch.tanh(z @ self.A.T.to(z.dtype))
        bad = z[:, :1] > self.cut
        if self.what == "image":
            x = torch.where(bad, torch.full_like(x, float("nan")), x)
        else:
            x = x * (1 + torch.where(bad, torch.sqrt(z[:, :1] - z[:, :1]), torch.zeros_like(z[:, :1])))
        return x.reshape(-1, 1, 4, 4)


def make_nan_at():
    """``--model helpers_analysis:make_nan_at`` (float32, as the CLI loads it)."""
    return NanAtGenerator().float()
