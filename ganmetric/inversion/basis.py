"""The basis an inversion optimises in: a matrix, a metric result, or a result/axes file.

The code is parametrised as ``z = z_init + B c`` with ``c`` starting at 0 and

    B = U diag(s),   s_i = (max(lambda_i, floor * lambda_1) / lambda_1) ** (-p)

where the columns of U are the basis directions (eigenvectors, descending eigenvalues
``lambda``), ``p`` is ``eigval_power`` and ``floor`` is ``eigval_floor``. With ``p = 0``
(the default) B = U: for an orthonormal (n, n) U this is the paper's ``z = U c`` (Adam on
the coefficients c), written relative to the start so that every basis starts at the same
code. With ``p > 0`` the flat directions (small lambda) get larger steps, as in a
preconditioner: ``p = 0.5`` equalises the curvature of the quadratic model for plain
gradient descent along the eigen-directions. With k < n columns, the code moves only in
``z_init + span(U)``.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..errors import InputError, ResultFileError



def read_basis_file(path) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Directions (n, k) as columns and eigenvalues (k,) or None from a file.

    Accepts a ganmetric result file (``eigvecs`` (n, k) columns, ``eigvals``; e.g. from
    ``ganmetric hessian`` or ``ganmetric average``, read with :func:`ganmetric.load_result`)
    or an axes file: an ``.npz`` with ``axes`` (K, n), one direction per row, and optionally
    ``eigvals`` (K,).

    Returns:
        (directions (n, k), eigenvalues (k,) or None, a description of the source).

    Raises:
        InputError / ResultFileError: missing, unreadable or malformed file.
    """
    from ..io import load_result

    path = Path(path)
    if not path.is_file():
        raise InputError(f"basis file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            axes = data["axes"] if "axes" in keys and "eigvecs" not in keys else None
            vals = data["eigvals"] if axes is not None and "eigvals" in keys else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, AttributeError) as exc:
        raise InputError(f"cannot read basis file {path}: expected a ganmetric result .npz or an axes .npz "
                         f"({exc})") from exc
    if axes is not None:
        if axes.ndim != 2 or axes.shape[0] == 0:
            raise InputError(f"{path}: 'axes' must have shape (K, n), one direction per row, got {axes.shape}")
        if vals is not None and vals.shape != (axes.shape[0],):
            raise InputError(f"{path}: 'eigvals' must have shape ({axes.shape[0]},), got {vals.shape}")
        return axes.T.astype(np.float64), vals, f"axes file {path.name}"
    if "eigvecs" not in keys:
        raise ResultFileError(f"{path} holds neither 'eigvecs' (a ganmetric result file) nor 'axes' (an axes file)")
    res = load_result(path)
    kind = res.meta.get("kind", "point")
    return res.eigvecs, res.eigvals, f"{kind} result file {path.name}"


def resolve_basis(basis, latent_dim: int, *, eigval_power: float = 0.0, eigval_floor: float = 1e-6,
                  k: int | None = None, device=None, dtype=torch.float32) -> tuple[torch.Tensor | None, dict]:
    """Turn any accepted ``basis`` into the (n, k) matrix B of ``z = z_init + B c``.

    Args:
        basis: None (optimise z itself); an (n, n) or (n, k) tensor/array whose columns are
            the directions; an object with ``eigvecs`` (n, k) and ``eigvals`` (a
            :class:`~ganmetric.MetricResult` or :class:`~ganmetric.LoadedResult`); or a path
            to a result file or an axes file (see :func:`read_basis_file`).
        latent_dim: n, the generator's latent size.
        eigval_power: p in ``s_i = (lambda_i / lambda_1) ** -p`` (needs eigenvalues; 0: unscaled).
        eigval_floor: eigenvalues below ``eigval_floor * lambda_1`` are raised to it (bounds s).
        k: keep only the first k directions (the top k for eigenvectors).
        device, dtype: of the returned matrix.

    Returns:
        (B or None, info) where info records the source, k and the scaling.

    Raises:
        InputError: wrong size (n must equal latent_dim), non-finite values, k out of range,
            eigval_power without eigenvalues, or a bad file.
    """
    p = checks.finite_float(eigval_power, "eigval_power")
    floor = checks.finite_float(eigval_floor, "eigval_floor")
    if not 0 < floor <= 1:
        raise InputError(f"eigval_floor must be in (0, 1], got {floor}")
    if basis is None:
        if p != 0:
            raise InputError("eigval_power needs a basis with eigenvalues (a result file or MetricResult); got no basis")
        return None, {"basis": None}
    vals = None
    if isinstance(basis, (str, Path)):
        vecs, vals, source = read_basis_file(basis)
    elif hasattr(basis, "eigvecs") and hasattr(basis, "eigvals"):
        vecs, vals, source = basis.eigvecs, basis.eigvals, type(basis).__name__
    elif isinstance(basis, (torch.Tensor, np.ndarray)):
        vecs, source = basis, f"matrix {tuple(basis.shape)}"
    else:
        raise InputError(f"basis must be None, an (n, k) matrix, a MetricResult or a result/axes file path, "
                         f"got {type(basis).__name__}")
    U = torch.as_tensor(np.asarray(vecs.detach().cpu() if isinstance(vecs, torch.Tensor) else vecs),
                        dtype=torch.float64)
    if U.dim() != 2 or U.shape[0] != latent_dim or not 1 <= U.shape[1] <= latent_dim:
        raise InputError(f"basis from {source} must have shape ({latent_dim}, k) with 1 <= k <= {latent_dim} "
                         f"(columns are directions in this {latent_dim}-d latent space), got {tuple(U.shape)}")
    if not torch.isfinite(U).all():
        raise InputError(f"basis from {source} contains NaN or inf values")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= U.shape[1]:
            raise InputError(f"basis k must be an integer between 1 and {U.shape[1]}, got {k!r}")
        U = U[:, :k]
    info = {"basis": source, "basis_k": int(U.shape[1]), "eigval_power": p}
    if p != 0:
        if vals is None:
            raise InputError(f"eigval_power={p} needs eigenvalues, but {source} has none "
                             "(pass a result file, a MetricResult, or an axes file with 'eigvals')")
        lam = torch.as_tensor(np.asarray(vals.detach().cpu() if isinstance(vals, torch.Tensor) else vals),
                              dtype=torch.float64)[: U.shape[1]]
        if not torch.isfinite(lam).all() or float(lam.max()) <= 0:
            raise InputError(f"eigenvalues from {source} must be finite with a positive maximum")
        top = float(lam.max())
        scale = (lam.clamp_min(floor * top) / top) ** (-p)
        U = U * scale
        info.update(eigval_floor=floor, scale_min=float(scale.min()), scale_max=float(scale.max()))
    return U.to(device=device, dtype=dtype), info
