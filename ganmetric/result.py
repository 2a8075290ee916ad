"""One eigen-result type for the metric at a point (full or top k) and for an average metric, and its file.

A :class:`MetricResult` holds descending eigenpairs, the base point, the full ``H`` when
it was computed, solver diagnostics and ``meta``: what made it (the generator's and the
distance's identity, see :func:`ganmetric.generators.model_meta` and
:func:`ganmetric.distances.distance_meta`) and, for a result read from a file, everything
the file records. :func:`ganmetric.metric_tensor` returns one with torch tensors on the
computation's device; :func:`load_result` returns one with numpy arrays;
:func:`ganmetric.analysis.average_metric` returns one of kind ``"average"``.

File format ``ganmetric-result/1``, an ``.npz`` readable with ``numpy.load(path,
allow_pickle=False)``:

- ``eigvals`` (k,) float, descending;  ``eigvecs`` (n, k) float, columns;
- ``z`` (n,) the base point (for an average metric, the points' mean code);
- ``H`` (n, n), present when the full metric was computed;
- ``residuals`` (k,), present for iterative methods;
- ``meta``: a 0-d unicode array holding strict JSON: ``format``, ``kind`` ("point" or
  "average"), ``model``, ``latent_space``, ``latent_dim``, ``model_options``, ``distance``,
  ``distance_options``, ``method``, ``k``, ``dtype``, ``seconds``, ``converged``, the
  solver options (``allow_tf32`` among them), ``float32_precision`` (the precision settings
  the products ran with), ``versions``, and what the writer adds (``seed``, ``device``, ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import InputError, ResultFileError
from .io import read_npz_with_meta, save_npz_with_meta, versions
from .linalg import anisotropy_counts
from .placement import as_numpy

FORMAT = "ganmetric-result/1"
KINDS = ("point", "average")
#: meta keys a result file sets from the result itself; a writer's extra keys may not replace them
RESERVED_KEYS = frozenset({"format", "kind", "method", "k", "latent_dim", "dtype", "seconds", "converged",
                           "versions", "model", "latent_space", "model_options", "distance", "distance_options"})


_array = as_numpy  # a numpy copy of a tensor (any device) or array


@dataclass(frozen=True)
class MetricResult:
    """The metric at one latent point (full or top k), or an average metric.

    Attributes:
        eigvals: (k,) descending (k = n for full results).
        eigvecs: (n, k), orthonormal columns.
        z: (n,) the base point (an average's mean code).
        H: (n, n) when the full metric was computed, else None.
        residuals: (k,) ``||H v - lambda v||`` for iterative methods, else None.
        kind: "point" or "average".
        method: the method that ran (``auto`` resolved; "average" for averages).
        seconds: wall time of the computation.
        converged: the iterative solver reached its tolerance (True for dense methods).
        n_products: single-vector products (or rows) computed.
        options: the solver options the method read (``chunk``, ``eps``, ``max_iter``, ``tol``,
            ``lanczos_seed``); those it did not read are None. ``allow_tf32``: whether CUDA
            products could run in TF32 (``meta["float32_precision"]`` holds the settings in effect).
        meta: what made it (model and distance identity); for a loaded file, its whole meta.
        path: the file it was read from or written to, if any.

    Arrays are torch tensors as computed, numpy arrays as read from a file.
    """

    eigvals: object
    eigvecs: object
    z: object
    H: object = None
    residuals: object = None
    kind: str = "point"
    method: str | None = None
    seconds: float | None = None
    converged: bool = True
    n_products: int = 0
    options: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def k(self) -> int:
        """Number of eigenpairs held."""
        return int(self.eigvals.shape[0])

    @property
    def dim(self) -> int:
        """n, the latent size."""
        return int(self.eigvecs.shape[0])

    @property
    def full(self) -> bool:
        """Whether the full H is held (not only top-k eigenpairs)."""
        return self.H is not None

    def metric(self) -> np.ndarray:
        """H as a numpy array, or its rank-k reconstruction ``U diag(lambda) U^T`` from the eigenpairs."""
        if self.H is not None:
            return _array(self.H)
        vecs = _array(self.eigvecs)
        return (vecs * _array(self.eigvals)) @ vecs.T

    def summary(self, top: int = 5) -> dict:
        """Top eigenvalues, the trace of H, and the 99% anisotropy count of the stored eigenvalues.

        ``n99`` is :func:`ganmetric.linalg.anisotropy_counts` at 0.99 of exactly the eigenvalues
        held (so ``ganmetric spectrum`` reports the same count for the file); ``total`` is the
        sum of their magnitudes (the count's 100%). Both are None when the spectrum is all
        zeros or not finite (the count is undefined then).

        For a top-k result the count of its k eigenvalues says little (the top 10 always hold
        99% of the top 10's sum, nearly). When the trace is known (the full H was computed and
        k eigenpairs stored), ``trace_share`` is the stored eigenvalues' share of it and
        ``n99_of_trace`` how many of them reach 99% of the trace (None: more than k are needed);
        both are None when H (so the trace) is unknown.
        """
        vals = _array(self.eigvals).astype(np.float64)
        trace = float(np.trace(_array(self.H).astype(np.float64))) if self.H is not None else None
        defined = bool(np.isfinite(vals).all()) and float(np.abs(vals).sum()) > 0
        n99 = int(anisotropy_counts(vals, (0.99,))[0]) if defined else None
        share = n99_trace = None
        if defined and trace is not None and trace > 0:
            cumulative = np.cumsum(np.abs(vals)) / trace
            share = float(cumulative[-1])
            reached = np.nonzero(cumulative >= 0.99)[0]
            n99_trace = int(reached[0]) + 1 if reached.size else None
        return {"top_eigvals": vals[:top].tolist(), "trace": trace,
                "total": float(np.abs(vals).sum()) if defined else None, "n99": n99,
                "trace_share": share, "n99_of_trace": n99_trace,
                "method": self.method, "seconds": self.seconds, "dim": self.dim, "k": self.k}

    def file_meta(self, **extra) -> dict:
        """The meta a result file of this result holds (``extra``: what the writer adds).

        Raises:
            InputError: ``extra`` names a reserved key (format, kind, model, distance, ...:
                those come from the result itself).
        """
        clash = sorted(set(extra) & RESERVED_KEYS)
        if clash:
            raise InputError(f"{', '.join(clash)} cannot be given when saving a result: the result records "
                             f"them itself (the model and distance from the objects that computed it)",
                             argument=clash[0])
        vals = _array(self.eigvals)
        meta = {**{k: v for k, v in self.meta.items() if k not in ("format", "versions", "path")},
                "format": FORMAT, "kind": self.kind, "method": self.method, "k": self.k, "latent_dim": self.dim,
                "dtype": str(vals.dtype), "seconds": self.seconds, "converged": bool(self.converged),
                "versions": versions()}
        meta.update({k: v for k, v in (self.options or {}).items() if k not in RESERVED_KEYS})
        meta.update(extra)
        return meta

    def save(self, path, **extra) -> "MetricResult":
        """Write the result file atomically; returns the result with ``path`` set.

        Args:
            path: where to write (``.npz``).
            **extra: more meta (``seed``, ``device``, ``index``, ...); not the reserved keys.

        Raises:
            InputError: a reserved key in ``extra``, or the folder cannot be written.
        """
        meta = self.file_meta(**extra)
        arrays = {"eigvals": _array(self.eigvals), "eigvecs": _array(self.eigvecs), "z": _array(self.z)}
        if self.H is not None:
            arrays["H"] = _array(self.H)
        if self.residuals is not None:
            arrays["residuals"] = _array(self.residuals)
        save_npz_with_meta(path, arrays, meta)
        return replace(self, meta=meta, path=Path(path))

    @classmethod
    def load(cls, path) -> "MetricResult":
        """Read and validate a result file (numpy arrays).

        Raises:
            ResultFileError: missing file, not an npz, missing arrays, inconsistent shapes,
                non-finite eigenpairs, point or H, or bad meta.
        """
        arrays, meta = read_npz_with_meta(
            path, kind="ganmetric result", required=("eigvals", "eigvecs", "z", "meta"),
            format_prefix="ganmetric-result/",
            hint=lambda arrays: (" (it looks like an axis file: pass it where axes are expected)"
                                 if "axes" in arrays else ""))
        path = Path(path)
        vals, vecs, z, H = arrays["eigvals"], arrays["eigvecs"], arrays["z"], arrays.get("H")
        n = vecs.shape[0] if vecs.ndim == 2 else -1
        ok = (vals.ndim == 1 and vecs.ndim == 2 and vecs.shape[1] == vals.shape[0] and z.shape[-1] == n
              and (H is None or H.shape == (n, n)))
        if not ok:
            raise ResultFileError(f"{path}: inconsistent shapes eigvals {vals.shape}, eigvecs {vecs.shape}, "
                                  f"z {z.shape}" + (f", H {H.shape}" if H is not None else ""), argument="path")
        if not (np.isfinite(vals).all() and np.isfinite(vecs).all()):
            raise ResultFileError(f"{path}: non-finite eigenpairs", argument="path")
        for name, arr in (("point z", z), ("metric H", H)):
            if arr is not None and not np.isfinite(arr).all():
                raise ResultFileError(f"{path}: non-finite values in its {name}", argument="path")
        kind = meta.get("kind", "point")
        if kind not in KINDS:
            raise ResultFileError(f"{path}: unknown result kind {kind}", argument="path")
        options = {k: meta.get(k) for k in ("chunk", "eps", "max_iter", "tol", "lanczos_seed", "allow_tf32")
                   if k in meta}
        return cls(vals, vecs, z, H, arrays.get("residuals"), kind=kind, method=meta.get("method"),
                   seconds=meta.get("seconds"), converged=bool(meta.get("converged", True)), options=options,
                   meta=meta, path=path)


def save_result(path, result: MetricResult, **extra) -> Path:
    """Write ``result`` to ``path`` atomically (see :meth:`MetricResult.save`).

    Args:
        path: the ``.npz`` file to write (missing parent folders are created).
        result: the :class:`MetricResult`.
        **extra: extra meta entries, as :meth:`MetricResult.save` takes them (e.g. ``seed=0``).

    Returns:
        The path written.
    """
    return result.save(path, **extra).path


def load_result(path) -> MetricResult:
    """Read and validate a result file (see :meth:`MetricResult.load`).

    Args:
        path: a ``.npz`` file written by :meth:`MetricResult.save` (or ``ganmetric hessian``, ``average``...).

    Returns:
        The :class:`MetricResult`, with numpy arrays, its ``meta`` and ``path``.

    Raises:
        ResultFileError: missing file, not an npz, missing arrays, inconsistent shapes,
            non-finite eigenpairs, point or H, or bad meta.
    """
    return MetricResult.load(path)
