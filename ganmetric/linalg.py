"""Small linear-algebra helpers shared by the solvers, the average metric and the direction comparisons."""
from __future__ import annotations

import numpy as np
import torch


def eigh_descending(H):
    """Eigenpairs of a symmetric matrix, eigenvalues in descending order.

    Args:
        H: (n, n) symmetric ``torch.Tensor`` or numpy array.

    Returns:
        ``(vals, vecs)`` of the same kind as ``H``: vals (n,) descending, vecs (n, n) with the
        matching eigenvectors as columns.
    """
    if isinstance(H, torch.Tensor):
        vals, vecs = torch.linalg.eigh(H)
        return vals.flip(0), vecs.flip(1)
    vals, vecs = np.linalg.eigh(np.asarray(H))
    return vals[::-1].copy(), vecs[:, ::-1].copy()
