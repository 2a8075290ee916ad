"""Dense metric tensors: the Jacobian Gram matrix (fast, exact) and the paper's ``bp``."""
from __future__ import annotations

import torch

from .. import checks
from .._progress import progress_bar
from ..memory import Chunks
from .operators import MetricOperator, Objective


def jacobian_gram(obj: Objective, *, chunk: int | Chunks | None = None, progress: bool = False) -> torch.Tensor:
    """``H = 2 J^T J`` from batched forward-mode products (no double backward).

    Each chunk of identity columns E (c of them) goes through one batched jvp giving c
    columns of J; J is kept (n x F, the size of the features times n) and the Gram
    matrix is one matmul. ``chunk`` bounds the activation memory of the passes; a pass that
    runs out of memory is retried with half as many columns (see :class:`ganmetric.memory.Chunks`).

    Args:
        obj: the objective (generator, feature-form distance, base point).
        chunk: codes per batched pass (default: all n at once), or a :class:`~ganmetric.memory.Chunks`
            (whose ``size`` then says the chunk in use after any retry).
        progress: show a progress bar over chunks.

    Returns:
        H, shape (n, n), symmetric PSD.

    Raises:
        InputError: chunk is not a positive integer.
    """
    n = obj.z0.numel()
    if not isinstance(chunk, Chunks):
        chunk = Chunks(n if chunk is None else checks.positive_int("chunk", chunk), "jacobian")
    eye = torch.eye(n, device=obj.z0.device, dtype=obj.z0.dtype)
    bar = progress_bar(None, enable=progress and n > chunk.size, total=n, desc="jacobian", unit="column")
    try:
        rows = chunk.map(lambda i, j: obj.jvp_block(obj.psi_unscaled, eye[i:j]).flatten(1), n,
                         on_pass=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    Jt = rows[0] if len(rows) == 1 else torch.cat(rows)  # (n, F): row i is J e_i (no copy for one chunk)
    H = (2 * obj.feature_scale ** 2) * (Jt @ Jt.T)  # the distance's constant factor, once, on the Gram
    return (H + H.T) / 2


def operator_dense(op: MetricOperator, *, progress: bool = False) -> torch.Tensor:
    """Apply an operator to the identity, chunk by chunk, and symmetrise.

    Args:
        op: a :class:`~ganmetric.hessian.MetricOperator` (n x n).
        progress: show a progress bar per block of products.

    Returns:
        (n, n) the dense, symmetrised operator, on its device and dtype.
    """
    n = op.dim
    eye = torch.eye(n, device=op.device, dtype=op.dtype)
    step = op.chunk if op.batched else 1
    cols = [op.matmat(eye[:, i:i + step])
            for i in progress_bar(range(0, n, step), enable=progress, desc="products", unit="block")]
    H = torch.cat(cols, dim=1)
    return (H + H.T) / 2


def bp_hessian(obj: Objective, *, progress: bool = False) -> torch.Tensor:
    """The paper's ``bp``: gradient with ``create_graph=True``, then one backward pass per row.

    Args:
        obj: the :class:`~ganmetric.hessian.Objective` (generator, distance and base point).
        progress: show a progress bar per row.

    Returns:
        (n, n) the symmetrised Hessian of ``f`` at z0, on its device and dtype.
    """
    z = obj.z0.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(obj.f(z[None]).sum(), z, create_graph=True)
        n = z.numel()
        H = torch.empty(n, n, device=z.device, dtype=z.dtype)
        for i in progress_bar(range(n), enable=progress, desc="bp rows", unit="row"):
            (H[i],) = torch.autograd.grad(g[i], z, retain_graph=i < n - 1)
    return (H + H.T) / 2
