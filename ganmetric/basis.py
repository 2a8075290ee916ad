"""A basis of latent directions from a matrix, a metric result, or a result/axes file, checked against the model.

Inversion optimises in it; black-box optimisation and compression use it too.

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

from . import checks
from .errors import InputError, ResultFileError
from .generators.spec import check_same_model
from .io import read_npz_with_meta
from .result import MetricResult, load_result
from .placement import cpu_float64, placement


def check_basis_for(meta: dict | None, G, *, source: str = "the basis") -> None:
    """Refuse a basis computed for another model than ``G``: everything the file records about
    its model (name, latent space and size, the options that change the map such as a class,
    the weights' digest) must match (:func:`ganmetric.generators.check_same_model`). A matrix
    passed from Python has no meta: :func:`resolve_basis` checks only its shape.

    Args:
        meta: the basis file's meta (a result file's or an axes file's), or None.
        G: the generator the basis will be used with.
        source: what to call the basis in the message (e.g. "result file face.npz").

    Raises:
        InputError: one line naming every difference.
    """
    if meta:
        check_same_model(meta, G, what=f"the {source}" if source.startswith("basis ") else source)


def basis_meta(path) -> dict:
    """What a basis file (a result, an average or an axis file) records: its meta.

    Args:
        path: the result or axis file.

    Returns:
        The file's meta (model, latent space, distance, ...).

    Raises:
        InputError: missing file. ResultFileError: not a result or axis file.
    """
    return _read_basis_file(path)[2]


def _read_basis_file(path) -> tuple[np.ndarray, np.ndarray, dict, str]:
    """Directions (n, k) as columns, eigenvalues (k,), meta and a description, from a result or axes file.

    The file's ``meta.format`` says which it is; the file is then read by
    :func:`ganmetric.load_result` or :func:`ganmetric.axes.load_axes`, which validate it.

    Raises:
        InputError: missing file.
        ResultFileError: not an .npz, not a ganmetric result or axes file, or a malformed one.
    """
    from .axes import load_axes  # ganmetric.axes imports plotting and more: only when a file is read

    path = Path(path)
    if not path.is_file():
        raise InputError(f"basis file not found: {path}", argument="basis")
    if not zipfile.is_zipfile(path):  # a .npy, an image, ...: numpy's own messages would mislead
        raise ResultFileError(f"{path} is not a ganmetric result or axes file (those are .npz archives)",
                              argument="basis")
    _, meta = read_npz_with_meta(path, kind="ganmetric result or axes", required=("meta",),
                                 format_prefix="ganmetric-", hint=_missing_meta_hint, argument="basis")
    fmt = str(meta["format"])
    if fmt.startswith("ganmetric-axes/"):
        axes = load_axes(path)
        return axes.axes.T, axes.eigvals, axes.meta, f"axes file {path.name}"
    if fmt.startswith("ganmetric-result/"):
        res = load_result(path)
        return res.eigvecs, res.eigvals, res.meta, f"{res.meta.get('kind', 'point')} result file {path.name}"
    raise ResultFileError(f"{path} is a {fmt} file, not a ganmetric result or axes file", argument="basis")


def _missing_meta_hint(arrays) -> str:
    if "axes" in arrays:
        return " (axes files are written by `ganmetric axes export` or ganmetric.axes.export_axes)"
    return ""


def _basis_source(basis) -> tuple[object, object, dict | None, str]:
    """(directions (n, k), eigenvalues or None, meta or None, description) of any accepted basis."""
    from .axes import Axes

    if isinstance(basis, (str, Path)):
        return _read_basis_file(basis)
    if isinstance(basis, Axes):
        name = basis.path.name if basis.path is not None else "in memory"
        return basis.axes.T, basis.eigvals, basis.meta, f"axes {name}"
    if isinstance(basis, MetricResult):  # computed or loaded: it records its model (checked when it does)
        where = f"result file {basis.path.name}" if basis.path is not None else f"{basis.kind} result in memory"
        return basis.eigvecs, basis.eigvals, basis.meta or None, where
    if isinstance(basis, (torch.Tensor, np.ndarray)):
        return basis, None, None, f"matrix {tuple(basis.shape)}"
    raise InputError(f"basis must be None, an (n, k) matrix, a MetricResult, Axes or a result/axes file path, "
                     f"got {type(basis).__name__}", argument="basis")


def _float64(values) -> torch.Tensor:
    return cpu_float64(values)


def _columns(vecs, n: int, source: str, basis_k) -> torch.Tensor:
    """The directions as an (n, k) float64 matrix, checked, cut to the first ``basis_k`` columns."""
    U = _float64(vecs)
    if U.dim() != 2 or U.shape[0] != n or not 1 <= U.shape[1] <= n:
        raise InputError(f"the basis from {source} must have shape ({n}, k) with 1 <= k <= {n} "
                         f"(columns are directions in this {n}-d latent space), got {tuple(U.shape)}", argument="basis")
    if not torch.isfinite(U).all():
        raise InputError(f"the basis from {source} contains NaN or inf values", argument="basis")
    if basis_k is not None:
        if isinstance(basis_k, bool) or not isinstance(basis_k, (int, np.integer)) or not 1 <= basis_k <= U.shape[1]:
            raise InputError(f"basis_k must be an integer between 1 and {U.shape[1]} (the directions {source} "
                             f"holds), got {basis_k}", argument="basis_k")
        U = U[:, :int(basis_k)]
    return U


def _eigval_scale(vals, k: int, source: str, p: float, floor: float) -> torch.Tensor:
    """s_i = (max(lambda_i, floor lambda_1) / lambda_1) ** -p for the first k eigenvalues."""
    if vals is None:
        raise InputError(f"eigval_power={p} needs eigenvalues, but {source} has none "
                         "(pass a result file, a MetricResult or an axes file)", argument="eigval_power")
    lam = _float64(vals)[:k]
    if not torch.isfinite(lam).all() or float(lam.max()) <= 0:
        raise InputError(f"eigenvalues from {source} must be finite with a positive maximum", argument="basis")
    top = float(lam.max())
    return (lam.clamp_min(floor * top) / top) ** (-p)


def resolve_basis(basis, G, *, eigval_power: float = 0.0, eigval_floor: float = 1e-6, basis_k: int | None = None,
                  device=None, dtype=None) -> tuple[torch.Tensor | None, dict]:
    """Turn any accepted ``basis`` into the (n, k) matrix B of ``z = z_init + B c``, checked against ``G``.

    Args:
        basis: None (optimise z itself); an (n, n) or (n, k) tensor/array whose columns are
            the directions; an object with ``eigvecs`` (n, k) and ``eigvals`` (a
            :class:`~ganmetric.MetricResult` or :class:`~ganmetric.LoadedResult`); an
            :class:`~ganmetric.Axes`; or a path to a result file or an axes file.
        G: the generator (its latent size, and the model recorded in a file, are checked by
            :func:`check_basis_for`).
        eigval_power: p in ``s_i = (lambda_i / lambda_1) ** -p`` (needs eigenvalues; 0: unscaled).
        eigval_floor: eigenvalues below ``eigval_floor * lambda_1`` are raised to it (bounds s).
        basis_k: keep only the first k directions (the top k for eigenvectors).
        device, dtype: of the returned matrix (default: G's).

    Returns:
        (B or None, info) where info records the source, k and the scaling.

    Raises:
        InputError: a basis made for another model, latent space or size; non-finite values;
            basis_k out of range or given without a basis; eigval_power without eigenvalues;
            a missing file.
        ResultFileError: a file that is not a valid ganmetric result or axes file.
    """
    p = checks.finite_float("eigval_power", eigval_power)
    floor = checks.finite_float("eigval_floor", eigval_floor)
    if not 0 < floor <= 1:
        raise InputError(f"eigval_floor must be in (0, 1], got {floor}", argument="eigval_floor")
    if basis is None:
        if p != 0:
            raise InputError("eigval_power needs a basis with eigenvalues (a result file or MetricResult); "
                             "got no basis", argument="eigval_power")
        if basis_k is not None:
            raise InputError(f"basis_k={basis_k} needs a basis to take directions from; got no basis",
                             argument="basis_k")
        return None, {"basis": None}
    vecs, vals, meta, source = _basis_source(basis)
    if meta is not None:  # the size is the stored array's, whatever the meta says
        check_basis_for({**meta, "latent_dim": int(np.shape(vecs)[0])}, G, source=f"basis {source}")
    U = _columns(vecs, int(G.latent_dim), source, basis_k)
    info = {"basis": source, "basis_k": int(U.shape[1]), "eigval_power": p}
    if p != 0:
        scale = _eigval_scale(vals, U.shape[1], source, p, floor)
        U = U * scale
        info.update(eigval_floor=floor, scale_min=float(scale.min()), scale_max=float(scale.max()))
    place = placement(G)
    return U.to(device=device or place["device"], dtype=dtype or place["dtype"]), info
