"""Axis files: the top-K eigenvectors of a metric, kept with what they came from.

Format ``ganmetric-axes/1``, an ``.npz`` readable with ``numpy.load(path, allow_pickle=False)``:

- ``axes`` (K, n) float64: unit rows, axis i is the i-th eigenvector of the metric
  (eigenvalues descending); the sign is the one the eigensolver returned;
- ``eigvals`` (K,) float64: the matching eigenvalues (descending);
- ``points`` (m, n) float64: the latent point(s) the metric was computed at (m = 1 for
  a single-point result; for an average metric, whatever the result file holds as ``z``);
- ``meta``: a 0-d unicode array holding JSON: ``format``, ``kind`` ("axes"), ``model``,
  ``latent_space``, ``latent_dim``, ``distance``, ``distance_options``, ``top`` (K),
  ``source`` (path, sha256, kind, method, k of the result file), ``source_meta`` (the
  result file's whole meta) and ``versions``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import checks
from ..errors import InputError, ResultFileError
from ..io import LoadedResult, atomic_save_npz, json_text, load_result, read_npz_with_meta, sha256_file, versions

FORMAT = "ganmetric-axes/1"


@dataclass(frozen=True)
class Axes:
    """Top-K metric eigenvectors as unit latent directions.

    Attributes:
        axes: (K, n) unit rows, ordered by eigenvalue (descending).
        eigvals: (K,) eigenvalues: ``d(G(z0), G(z0 + t u_i)) ~ eigvals[i] t^2 / 2`` for small t.
        model: model name the metric was computed for.
        latent_space: latent space name ("z", "w", ...).
        distance: distance spec ("mse", "lpips-alex", ...).
        points: (m, n) source point(s).
        meta: the provenance JSON (see the module docstring).
        path: the file it was read from or written to, if any.
    """

    axes: np.ndarray
    eigvals: np.ndarray
    model: str | None
    latent_space: str | None
    distance: str | None
    points: np.ndarray
    meta: dict
    path: Path | None = None

    @property
    def top(self) -> int:
        """K, the number of axes."""
        return int(self.axes.shape[0])

    @property
    def latent_dim(self) -> int:
        """n, the size of one latent code."""
        return int(self.axes.shape[1])

    def axis(self, i: int) -> np.ndarray:
        """Axis ``i`` as an (n,) array.

        Raises:
            InputError: ``i`` is not an integer in [0, K).
        """
        return self.axes[_check_index(i, self.top)]


def _check_index(i, top: int, *, name: str = "axis index") -> int:
    """Validate an axis index in [0, top).

    Raises:
        InputError: not an integer, or out of range.
    """
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {i!r}")
    if not 0 <= int(i) < top:
        raise InputError(f"{name} {int(i)} is out of range: the axis file holds {top} axes (0 to {top - 1})")
    return int(i)


def export_axes(result_or_path, *, top: int, out=None) -> Axes:
    """Take the top-K eigenvectors of a result (single point or average metric) as axes.

    Args:
        result_or_path: a result file path or a :class:`~ganmetric.io.LoadedResult`.
        top: K, how many axes (at most the number of eigenpairs the result holds).
        out: if given, write the axis file there atomically.

    Returns:
        The :class:`Axes` (with ``path`` set to ``out`` when written).

    Raises:
        ResultFileError: the result file is missing or not a ganmetric result.
        InputError: ``top`` is not in [1, k]; the eigenvectors are not unit length;
            ``out`` cannot be written.
    """
    res = result_or_path if isinstance(result_or_path, LoadedResult) else load_result(result_or_path)
    k = int(res.eigvals.shape[0])
    checks.positive_int("top", top, maximum=k)
    order = np.argsort(-res.eigvals, kind="stable")[:top]  # files are descending already; be sure
    vecs = np.asarray(res.eigvecs, dtype=np.float64)[:, order].T.copy()
    norms = np.linalg.norm(vecs, axis=1)
    if not np.all(np.abs(norms - 1) < 1e-3):
        raise ResultFileError(f"{res.path}: eigenvectors are not unit length (norms {norms.min():.3g} to "
                              f"{norms.max():.3g})")
    vecs /= norms[:, None]
    meta_in = res.meta
    source = {"path": str(res.path), "sha256": sha256_file(res.path) if Path(res.path).is_file() else None,
              "kind": meta_in.get("kind", "point"), "method": meta_in.get("method"), "k": k}
    meta = {"format": FORMAT, "kind": "axes", "model": meta_in.get("model"),
            "latent_space": meta_in.get("latent_space"), "latent_dim": int(vecs.shape[1]),
            "distance": meta_in.get("distance"), "distance_options": meta_in.get("distance_options") or {},
            "top": int(top), "source": source, "source_meta": meta_in, "versions": versions()}
    points = np.atleast_2d(np.asarray(res.z, dtype=np.float64))
    axes = Axes(vecs, np.asarray(res.eigvals, dtype=np.float64)[order].copy(), meta["model"], meta["latent_space"],
                meta["distance"], points, meta, None)
    if out is not None:
        axes = save_axes(out, axes)
    return axes


def save_axes(path, axes: Axes) -> Axes:
    """Write ``axes`` to ``path`` atomically; return them with ``path`` set."""
    arrays = {"axes": axes.axes, "eigvals": axes.eigvals, "points": axes.points,
              "meta": np.array(json_text(axes.meta, indent=None))}
    atomic_save_npz(path, arrays)
    return Axes(axes.axes, axes.eigvals, axes.model, axes.latent_space, axes.distance, axes.points, axes.meta,
                Path(path))


def load_axes(path) -> Axes:
    """Read and validate an axis file.

    Raises:
        ResultFileError: missing file, not an npz, not an axis file, inconsistent shapes,
            non-finite values or rows that are not unit length.
    """
    path = Path(path)
    arrays, meta = read_npz_with_meta(
        path, kind="axis", required=("axes", "eigvals", "points", "meta"), format_prefix="ganmetric-axes/",
        hint=lambda arrays: (" (it looks like a result file: make axes with `ganmetric axes export`)"
                             if "eigvecs" in arrays else ""))
    vecs, vals, pts = (np.asarray(arrays[key], dtype=np.float64) for key in ("axes", "eigvals", "points"))
    if not (vecs.ndim == 2 and vals.shape == (vecs.shape[0],) and pts.ndim == 2 and pts.shape[1] == vecs.shape[1]
            and vecs.shape[0] >= 1):
        raise ResultFileError(f"{path}: inconsistent shapes axes {vecs.shape}, eigvals {vals.shape}, "
                              f"points {pts.shape}")
    if not (np.isfinite(vecs).all() and np.isfinite(vals).all() and np.isfinite(pts).all()):
        raise ResultFileError(f"{path}: non-finite values")
    if not np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-6):
        raise ResultFileError(f"{path}: axes are not unit rows")
    return Axes(vecs, vals, meta.get("model"), meta.get("latent_space"), meta.get("distance"), pts, meta, path)


def check_axes_for(axes: Axes, G, *, check_model: bool = True) -> None:
    """Check that ``axes`` belong to generator ``G`` (same latent size, latent space and model).

    Args:
        axes: the axes.
        G: a :class:`~ganmetric.generators.base.Generator`.
        check_model: also require the same model name and latent space (off for a user's
            renamed copy of the same network).

    Raises:
        InputError: naming what the axes were made for and what ``G`` is.
    """
    made_for = f"model {axes.model} (latent space {axes.latent_space}, n={axes.latent_dim})"
    this = f"{G.name} (latent space {G.latent_space}, n={G.latent_dim})"
    if axes.latent_dim != G.latent_dim:
        raise InputError(f"the axes were made for {made_for}, but the model is {this}: latent sizes differ")
    if check_model and axes.model is not None and (axes.model != G.name or
                                                   (axes.latent_space or G.latent_space) != G.latent_space):
        raise InputError(f"the axes were made for {made_for}, but the model is {this}")
