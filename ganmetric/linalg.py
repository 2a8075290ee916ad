"""Small linear-algebra helpers shared by the solvers, the average metric and the direction comparisons."""
from __future__ import annotations

import numpy as np
import torch

from .errors import InputError, NonFiniteError


#: why a metric computed at a point is not finite, for every message that says so
NON_FINITE_CAUSE = ("the derivative of the generator (or of the distance) is NaN or inf there, or the values "
                    "overflow the dtype (float64 has more range)")


def check_finite(x, what: str) -> None:
    """Refuse NaN or inf in a computed array or tensor.

    Raises:
        NonFiniteError: ``"{what} is not finite (NaN or inf)"`` and its likely cause.
    """
    ok = bool(torch.isfinite(x).all()) if isinstance(x, torch.Tensor) else bool(np.isfinite(np.asarray(x)).all())
    if not ok:
        raise NonFiniteError(f"{what} is not finite (NaN or inf): {NON_FINITE_CAUSE}")


def eigh_descending(H, *, what: str = "the matrix"):
    """Eigenpairs of a symmetric matrix, eigenvalues in descending order.

    Args:
        H: (n, n) symmetric ``torch.Tensor`` or numpy array.
        what: what ``H`` is, for the message if it is not finite ("the metric H at this code").

    Returns:
        ``(vals, vecs)`` of the same kind as ``H``: vals (n,) descending, vecs (n, n) with the
        matching eigenvectors as columns.

    Raises:
        NonFiniteError: ``H`` holds NaN or inf (eigh would fail with a LinAlgError).
    """
    check_finite(H, what)
    if isinstance(H, torch.Tensor):
        if H.device.type == "mps":  # MPS has no eigh: solved on the CPU, handed back on MPS
            vals, vecs = eigh_descending(H.cpu())
            return vals.to(H.device), vecs.to(H.device)
        vals, vecs = torch.linalg.eigh(H)
        return vals.flip(0), vecs.flip(1)
    vals, vecs = np.linalg.eigh(np.asarray(H))
    return vals[::-1].copy(), vecs[:, ::-1].copy()


ANISOTROPY_DEFINITION = (
    "Anisotropy count for threshold t: the number of leading eigenvalues, sorted by magnitude (descending "
    "|lambda|), whose cumulative sum first reaches the fraction t of the total, i.e. "
    "min{m : sum_{i<=m} |lambda_i| >= t * sum_i |lambda_i|}; for top-k results the total is the sum of the k "
    "stored eigenvalues.")
"""The one definition of anisotropy, used by ``ganmetric hessian``, ``spectrum``, ``average`` and every table."""

THRESHOLDS = (0.99, 0.999, 0.9999, 0.99999)
"""The default thresholds t of the anisotropy counts (fractions of the trace)."""


def _check_thresholds(thresholds) -> np.ndarray:
    """``thresholds`` as a 1-d float array of finite fractions in (0, 1] (NaN fails every comparison: test it)."""
    try:
        th = np.asarray(thresholds, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"thresholds must be numbers in (0, 1], got {thresholds}", argument="thresholds") from exc
    if th.ndim != 1 or th.size == 0 or not np.all(np.isfinite(th) & (th > 0) & (th <= 1)):
        shown = ", ".join(f"{t:g}" for t in np.atleast_1d(th).ravel())
        raise InputError(f"thresholds must be finite fractions in (0, 1], got [{shown}]", argument="thresholds")
    return th


def anisotropy_counts(eigvals, thresholds=THRESHOLDS) -> np.ndarray:
    """Leading-eigenvalue counts reaching each cumulative fraction of the total.

    Args:
        eigvals: (k,) or (N, k) eigenvalues (any order, any sign; sorted by magnitude here).
        thresholds: fractions in (0, 1].

    Returns:
        int array (len(thresholds),) or (N, len(thresholds)).

    Raises:
        InputError: no thresholds, a threshold that is not a finite number in (0, 1], non-finite
            eigenvalues, or an all-zero spectrum.
    """
    vals = np.abs(np.asarray(eigvals, dtype=np.float64))
    th = _check_thresholds(thresholds)
    if not np.isfinite(vals).all():
        raise InputError("eigenvalues contain NaN or inf", argument="eigvals")
    single = vals.ndim == 1
    vals = np.sort(np.atleast_2d(vals), axis=1)[:, ::-1]
    total = vals.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise InputError("a spectrum is all zeros; anisotropy counts are undefined", argument="eigvals")
    frac = np.cumsum(vals, axis=1) / total
    # a tolerance of a few ulps so that a fraction that reaches t exactly (e.g. 1.0) counts
    reached = frac[:, :, None] >= th[None, None, :] - 8 * np.finfo(np.float64).eps
    counts = np.argmax(reached, axis=1) + 1
    return counts[0] if single else counts
