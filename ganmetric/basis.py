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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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


@dataclass(frozen=True)
class BasisSource:
    """Latent directions to build a basis from, with what is known of where they came from.

    Objects that can serve as a basis without this module knowing their type (an axis set, a
    direction set) give one from ``as_basis()``; files give one through the reader registered
    for their format (:func:`register_basis_file`).

    Attributes:
        vectors: (n, k) directions as columns (a tensor or an array).
        eigvals: (k,) the metric's eigenvalues, descending, or None (directions without them).
        meta: the record of the model they were made for (a file's or a result's meta), or None
            (then only the latent size is checked).
        description: what to call them in messages ("axes file a.npz").
        points: (m, n) the code(s) the metric was computed at, or None.
        label: a direction set's name ("sefa", a file's stem), or None for a metric's eigenvectors.
        info: how a direction set was made (SeFa's layers, GANSpace's samples), or None.
    """

    vectors: object
    eigvals: object = None
    meta: dict | None = None
    description: str = "the basis"
    points: object = None
    label: str | None = None
    info: dict | None = None


#: format prefix of a basis file's ``meta.format`` -> its reader (path -> BasisSource). Result
#: files are read here; axis files by the reader :mod:`ganmetric.axes.files` registers (ganmetric
#: imports it), so that this module imports nothing above it.
BASIS_FILE_FORMATS: dict[str, Callable[[Path], BasisSource]] = {}


def register_basis_file(prefix: str):
    """Decorator: ``reader(path) -> BasisSource`` reads basis files whose ``meta.format`` starts with ``prefix``."""
    def register(reader):
        BASIS_FILE_FORMATS[prefix] = reader
        return reader
    return register


@register_basis_file("ganmetric-result/")
def _result_file(path: Path) -> BasisSource:
    res = load_result(path)
    return _result_source(res, f"{res.meta.get('kind', 'point')} result file {path.name}")


def _result_source(res: MetricResult, description: str) -> BasisSource:
    """A metric result's eigenvectors and eigenvalues, its record, and its point z (an average's: the mean code)."""
    return BasisSource(res.eigvecs, res.eigvals, res.meta or None, description,
                       None if res.z is None else cpu_float64(res.z).reshape(1, -1))


def basis_meta(path) -> dict:
    """What a basis file (a result, an average or an axis file) records: its meta.

    Args:
        path: the result or axis file.

    Returns:
        The file's meta (model, latent space, distance, ...).

    Raises:
        InputError: missing file. ResultFileError: not a result or axis file.
    """
    return _read_basis_file(path).meta


def _read_basis_file(path) -> BasisSource:
    """The directions of a result or axes file, read by the reader of its ``meta.format``
    (:data:`BASIS_FILE_FORMATS`), which validates it.

    Raises:
        InputError: missing file.
        ResultFileError: not an .npz, not a ganmetric result or axes file, or a malformed one.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"basis file not found: {path}", argument="basis")
    if not zipfile.is_zipfile(path):  # a .npy, an image, ...: numpy's own messages would mislead
        raise ResultFileError(f"{path} is not a ganmetric result or axes file (those are .npz archives)",
                              argument="basis")
    _, meta = read_npz_with_meta(path, kind="ganmetric result or axes", required=("meta",),
                                 format_prefix="ganmetric-", hint=_missing_meta_hint, argument="basis")
    fmt = str(meta["format"])
    for prefix, reader in BASIS_FILE_FORMATS.items():
        if fmt.startswith(prefix):
            return reader(path)
    raise ResultFileError(f"{path} is a {fmt} file, not a ganmetric result or axes file", argument="basis")


def _missing_meta_hint(arrays) -> str:
    if "axes" in arrays:
        return " (axes files are written by `ganmetric axes export` or ganmetric.axes.export_axes)"
    return ""


def basis_source(basis) -> BasisSource:
    """The directions of any accepted basis (see :func:`resolve_basis`), unchecked.

    Raises:
        InputError: a missing file, or a type that is no basis.
        ResultFileError: a file that is not a valid ganmetric result or axes file.
    """
    if isinstance(basis, BasisSource):
        return basis
    if isinstance(basis, (str, Path)):
        return _read_basis_file(basis)
    if isinstance(basis, MetricResult):  # computed or loaded: it records its model (checked when it does)
        where = f"result file {basis.path.name}" if basis.path is not None else f"{basis.kind} result in memory"
        return _result_source(basis, where)
    if isinstance(basis, (torch.Tensor, np.ndarray)):
        return BasisSource(basis, description=f"matrix {tuple(basis.shape)}")
    if callable(getattr(basis, "as_basis", None)):  # Axes, Directions
        return basis.as_basis()
    raise InputError(f"basis must be None, an (n, k) matrix, a MetricResult, Axes, Directions or a result/axes "
                     f"file path, got {type(basis).__name__}", argument="basis")


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
    src = basis_source(basis)
    vecs, vals, source = src.vectors, src.eigvals, src.description
    if src.meta is not None:  # the size is the stored array's, whatever the meta says
        check_basis_for({**src.meta, "latent_dim": int(np.shape(vecs)[0])}, G, source=f"basis {source}")
    U = _columns(vecs, int(G.latent_dim), source, basis_k)
    info = {"basis": source, "basis_k": int(U.shape[1]), "eigval_power": p}
    if p != 0:
        scale = _eigval_scale(vals, U.shape[1], source, p, floor)
        U = U * scale
        info.update(eigval_floor=floor, scale_min=float(scale.min()), scale_max=float(scale.max()))
    place = placement(G)
    return U.to(device=device or place["device"], dtype=dtype or place["dtype"]), info
