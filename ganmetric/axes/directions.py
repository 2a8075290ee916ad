"""Latent directions from any source: the type every discovery method returns, and external ones.

A :class:`Directions` holds unit rows, most important first. SeFa and GANSpace make them
from a generator (:mod:`.sefa`, :mod:`.ganspace`); :func:`load_directions` takes them from a
file or an array (InterFaceGAN boundaries, hand-made directions, another tool's output), so
that :func:`~ganmetric.axes.compare_directions` treats all of them the same way.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..basis import BasisSource
from ..errors import InputError


@dataclass(frozen=True)
class Directions:
    """Unit latent directions found by a discovery method or given by the user.

    Attributes:
        vectors: (m, n) unit rows, most important first.
        values: (m,) the method's own scores (SeFa: eigenvalues of A^T A; GANSpace: PCA
            variances; external directions: their norms before normalisation).
        method: the name shown in tables ("sefa", "ganspace", a file's stem, ...).
        info: how they were made (layer, samples, file, ...).
    """

    vectors: np.ndarray
    values: np.ndarray
    method: str
    info: dict = field(default_factory=dict)

    def as_basis(self) -> BasisSource:
        """The directions as a basis (:func:`ganmetric.basis.resolve_basis`): columns, named by the method; no
        eigenvalues (the method's scores are not the metric's), no model record (only the size is checked)."""
        return BasisSource(np.asarray(self.vectors).T, description=f"{self.method} directions", label=self.method,
                           info=self.info)


def _unit_rows(rows, latent_dim: int, what: str, *, argument: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows (m, n) normalised to unit length, and their norms before.

    Args:
        rows: (n,) or (m, n) numbers.
        latent_dim: n.
        what: what to call them in messages.
        argument: the argument that gave them.

    Raises:
        InputError: not numeric, wrong shape or size, empty, non-finite, or a zero row.
    """
    try:
        V = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a numeric (m, {latent_dim}) array", argument=argument) from exc
    if V.ndim == 1:
        V = V[None]
    if V.ndim != 2 or V.shape[1] != latent_dim or V.shape[0] == 0:
        raise InputError(f"{what} must be (m, {latent_dim}) rows, one direction each (this metric has "
                         f"n = {latent_dim}), got shape {V.shape}", argument=argument)
    if not np.isfinite(V).all():
        raise InputError(f"{what} contain NaN or inf values", argument=argument)
    norms = np.linalg.norm(V, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InputError(f"{what}: row {int(zero[0])} is zero, it has no direction", argument=argument)
    return V / norms[:, None], norms


def _read_npy(path: Path) -> np.ndarray:
    """The array of a directions file (``load_directions``' source)."""
    if not path.is_file():
        raise InputError(f"directions file not found: {path}", argument="source")
    if path.suffix.lower() != ".npy":
        raise InputError(f"directions file {path.name} must be a .npy array of shape (m, n), one direction per row",
                         argument="source")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"directions file {path.name} is not a plain .npy array of numbers "
                         f"(shape (m, n), one direction per row)", argument="source") from exc


def load_directions(source, *, latent_dim: int, name: str | None = None) -> Directions:
    """External directions (any (m, n) array) as unit rows, in their given order.

    Args:
        source: a ``.npy`` file (read with ``allow_pickle=False``) or an array: (n,) for one
            direction, (m, n) for m. InterFaceGAN saves its boundaries as (1, n) ``.npy``.
        latent_dim: n, the latent size they must have.
        name: the method name shown in tables (default: the file's stem, or "directions").

    Returns:
        :class:`Directions` with ``values`` the rows' norms before normalisation.

    Raises:
        InputError: missing or unreadable file, a suffix other than .npy, wrong shape or
            size, non-finite values, or a zero row.
    """
    path = Path(source) if isinstance(source, (str, Path)) else None
    rows = _read_npy(path) if path is not None else source
    label = name or (path.stem if path is not None else "directions")
    what = f"directions {path.name}" if path is not None else "directions"
    vectors, norms = _unit_rows(rows, latent_dim, what, argument="source")
    info = {"file": str(path)} if path is not None else {}
    info["rows"] = int(vectors.shape[0])
    return Directions(vectors, norms, label, info)
