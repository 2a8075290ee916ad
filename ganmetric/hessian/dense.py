"""Dense metric tensors: the Jacobian Gram matrix (fast, exact) and the paper's ``bp``."""
from __future__ import annotations

import torch

from .._progress import progress_bar
from .objective import Objective
from .operators import GaussNewtonOperator, JacobianGram, MetricOperator


def jacobian_gram(obj: Objective, *, chunk: int | None = None, progress: bool = False) -> JacobianGram:
    """``H = 2 c^2 J^T J`` from batched forward-mode products (no double backward): the ``jacobian`` method.

    The Gram matrix of the rows of J (:meth:`GaussNewtonOperator.gram`). ``chunk`` bounds the
    activation memory of the passes; a pass that runs out of memory is retried with half as
    many columns (see :class:`ganmetric.oom.Chunks`).

    Args:
        obj: the objective (generator, feature-form distance, base point).
        chunk: codes per batched pass (default: all n at once).
        progress: show a progress bar over chunks.

    Returns:
        JacobianGram: ``H`` (n, n) symmetric PSD, ``primal`` (psi(z0) evaluated alone by the
        first pass, (1, F)), ``chunk`` (the chunk used, after any retry).

    Raises:
        InputError: chunk is not a positive integer.
    """
    return GaussNewtonOperator(obj, chunk).gram(progress=progress)


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
