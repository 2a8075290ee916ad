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

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import checks
from ..basis import BasisSource, register_basis_file
from ..errors import InputError, ResultFileError
from ..generators.spec import MODEL_KEYS, check_same_model
from ..io import read_npz_with_meta, save_npz_with_meta, sha256_file, versions
from ..placement import as_numpy
from ..result import MetricResult, load_result

FORMAT = "ganmetric-axes/1"
#: what an axis file copies from its source result: the model's and the distance's identity
PROVENANCE_KEYS = MODEL_KEYS + ("distance", "distance_options")


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

    def as_basis(self) -> BasisSource:
        """The axes as a basis (:func:`ganmetric.basis.resolve_basis`): columns, eigenvalues, record, points."""
        name = self.path.name if self.path is not None else "in memory"
        return BasisSource(self.axes.T, self.eigvals, self.meta, f"axes {name}", self.points)


def _check_index(i, top: int, *, argument: str = "i") -> int:
    """Validate an axis index in [0, top) (``argument``: the argument that gave it).

    Raises:
        InputError: not an integer, or out of range.
    """
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise InputError(f"axis index must be an integer, got {i}", argument=argument)
    if not 0 <= int(i) < top:
        raise InputError(f"axis index {int(i)} is out of range: the axis file holds {top} axes (0 to {top - 1})",
                         argument=argument)
    return int(i)


def export_axes(result_or_path, *, top: int, out=None) -> Axes:
    """Take the top-K eigenvectors of a result (single point or average metric) as axes.

    Args:
        result_or_path: a result file path or a :class:`~ganmetric.MetricResult` (computed or loaded).
        top: K, how many axes (at most the number of eigenpairs the result holds).
        out: if given, write the axis file there atomically.

    Returns:
        The :class:`Axes` (with ``path`` set to ``out`` when written).

    Raises:
        ResultFileError: the result file is missing or not a ganmetric result.
        InputError: ``top`` is not in [1, k]; the eigenvectors are not unit length;
            ``out`` cannot be written.
    """
    res = result_or_path if isinstance(result_or_path, MetricResult) else load_result(result_or_path)
    k = int(res.eigvals.shape[0])
    checks.positive_int("top", top, maximum=k)
    eigvals = as_numpy(res.eigvals, dtype=np.float64)  # a computed result's tensors may be on a GPU
    order = np.argsort(-eigvals, kind="stable")[:top]  # files are descending already; be sure
    vecs = as_numpy(res.eigvecs, dtype=np.float64)[:, order].T.copy()
    norms = np.linalg.norm(vecs, axis=1)
    if not np.all(np.abs(norms - 1) < 1e-3):
        raise ResultFileError(f"{res.path}: eigenvectors are not unit length (norms {norms.min():.3g} to "
                              f"{norms.max():.3g})", argument="result_or_path")
    vecs /= norms[:, None]
    meta_in = res.meta
    saved = res.path is not None and Path(res.path).is_file()
    source = {"path": str(res.path) if res.path is not None else None,
              "sha256": sha256_file(res.path) if saved else None, "kind": res.kind,
              "method": meta_in.get("method"), "k": k}
    provenance = {key: meta_in[key] for key in PROVENANCE_KEYS if key in meta_in}
    meta = {"format": FORMAT, "kind": "axes", **provenance, "latent_dim": int(vecs.shape[1]),
            "distance_options": meta_in.get("distance_options") or {},
            "top": int(top), "source": source, "source_meta": meta_in, "versions": versions()}
    points = np.atleast_2d(as_numpy(res.z, dtype=np.float64))
    if res.kind == "average" and points.shape[0] == 1:
        points, meta["reference"] = typical_point(points[0], meta_in)
    axes = Axes(vecs, eigvals[order].copy(), meta.get("model"),
                meta.get("latent_space"), meta.get("distance"), points, meta, None)
    if out is not None:
        axes = save_axes(out, axes)
    return axes


def typical_point(mean_code: np.ndarray, meta: dict) -> tuple[np.ndarray, str]:
    """The reference point axes of an average metric record: a typical code, and which, in words.

    An average's ``z`` is the mean of its points' codes, far shorter than any of them (|z| = 1.87
    for 20 points of a 100-d standard normal prior, against about 10 for a sample), so it is no
    typical code. Its direction is kept and its length set to the points' mean length
    (``code_norm_mean``, recorded by :func:`~ganmetric.analysis.average_metric`), or for an older
    file to sqrt(n), the typical length under a standard normal prior.

    Returns:
        ``((1, n) float64, description)``.
    """
    n = mean_code.size
    length = float(np.linalg.norm(mean_code))
    target = meta.get("code_norm_mean")
    if length == 0 or not np.isfinite(length):
        return mean_code[None].copy(), f"the mean of the averaged points' codes (|z| = {length:.3g})"
    if target is not None:
        how = f"their mean length {float(target):.3g}"
    else:
        target = float(np.sqrt(n))
        how = f"sqrt(n) = {target:.3g}, the typical length under a standard normal prior (the file does not " \
              f"record the points' lengths)"
    return (mean_code * (float(target) / length))[None], \
        f"the mean of the averaged points' codes (|z| = {length:.3g}) rescaled to {how}"


def save_axes(path, axes: Axes) -> Axes:
    """Write ``axes`` to ``path`` atomically.

    Args:
        path: the axis file (``.npz``) to write.
        axes: the :class:`Axes`.

    Returns:
        The same axes with ``path`` set.
    """
    save_npz_with_meta(path, {"axes": axes.axes, "eigvals": axes.eigvals, "points": axes.points}, axes.meta)
    return Axes(axes.axes, axes.eigvals, axes.model, axes.latent_space, axes.distance, axes.points, axes.meta,
                Path(path))


def load_axes(path) -> Axes:
    """Read and validate an axis file.

    Args:
        path: an axis file (format ``ganmetric-axes/1``: ``ganmetric axes export`` or :func:`export_axes` writes it).

    Returns:
        The :class:`Axes`: ``axes`` (K, n) unit rows, ``eigvals`` (K,), ``points`` (m, n), ``meta``, ``path``.

    Raises:
        ResultFileError: missing file, not an npz, not an axis file, inconsistent shapes,
            non-finite values or rows that are not unit length.
    """
    path = Path(path)
    arrays, meta = read_npz_with_meta(
        path, kind="ganmetric axis", required=("axes", "eigvals", "points", "meta"), format_prefix="ganmetric-axes/",
        hint=lambda arrays: (" (it looks like a result file: make axes with `ganmetric axes export`)"
                             if "eigvecs" in arrays else ""))
    vecs, vals, pts = (np.asarray(arrays[key], dtype=np.float64) for key in ("axes", "eigvals", "points"))
    if not (vecs.ndim == 2 and vals.shape == (vecs.shape[0],) and pts.ndim == 2 and pts.shape[1] == vecs.shape[1]
            and vecs.shape[0] >= 1):
        raise ResultFileError(f"{path}: inconsistent shapes axes {vecs.shape}, eigvals {vals.shape}, "
                              f"points {pts.shape}", argument="path")
    if not (np.isfinite(vecs).all() and np.isfinite(vals).all() and np.isfinite(pts).all()):
        raise ResultFileError(f"{path}: non-finite values", argument="path")
    if not np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-6):
        raise ResultFileError(f"{path}: axes are not unit rows", argument="path")
    return Axes(vecs, vals, meta.get("model"), meta.get("latent_space"), meta.get("distance"), pts, meta, path)


@register_basis_file("ganmetric-axes/")
def _axes_basis(path: Path) -> BasisSource:
    """An axis file as a basis (read and validated by :func:`load_axes`)."""
    return replace(load_axes(path).as_basis(), description=f"axes file {Path(path).name}")


def check_axes_for(axes: Axes, G, *, check_model: bool = True) -> None:
    """Check that ``axes`` belong to generator ``G``: the same latent size and, with
    ``check_model``, everything the file records about the model (name, latent space, every
    option that changes the map, the weights' digest: :func:`ganmetric.generators.check_same_model`).

    Args:
        axes: the axes.
        G: a :class:`~ganmetric.generators.base.Generator`.
        check_model: also require the recorded model (off for a user's renamed copy of the
            same network: only the latent size is checked then).

    Raises:
        InputError: one line naming every difference.
    """
    what = f"the axis file {axes.path.name}" if axes.path is not None else "the axis set"
    if check_model:
        check_same_model(axes.meta, G, what=what)
    elif axes.latent_dim != G.latent_dim:
        raise InputError(f"{what} was made for latent size {axes.latent_dim}, but the model's is {G.latent_dim}",
                         argument="axes")


def reference_code(axes: Axes, G, seed: int | None = None) -> tuple[np.ndarray, str]:
    """The code axes are applied to by default, and how it was chosen.

    With ``seed`` the code ``G.sample(1, seed)``; without, the point the axes were computed
    at when they come from a single-point metric, the typical code recorded for axes of an
    average metric (see :func:`typical_point`), else ``G.sample(1, 0)``.

    Args:
        axes: the :class:`Axes`.
        G: the generator the codes are for (its ``sample`` draws seeded codes).
        seed: a seed of ``G.sample``, or None for the axes' own reference.

    Returns:
        ``(codes (1, n) float64, label)``, the label in words ("seed 3", "the axes' source point",
        "the axes' reference point: the mean of ... rescaled to ...").
    """
    if seed is None and axes.points.shape[0] == 1 and axes.meta.get("source", {}).get("kind", "point") == "point":
        return axes.points.copy(), "the axes' source point"
    if seed is None and axes.points.shape[0] == 1 and axes.meta.get("reference"):
        return axes.points.copy(), f"the axes' reference point: {axes.meta['reference']}"
    seed = 0 if seed is None else seed
    return G.sample(1, seed=seed).detach().cpu().double().numpy(), f"seed {seed}"
