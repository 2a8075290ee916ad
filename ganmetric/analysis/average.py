"""The average metric over many points and its eigendecomposition (the global axes)."""
from __future__ import annotations

import numpy as np

from ..distances.spec import DISTANCE_KEYS
from ..generators.spec import MODEL_KEYS
from ..linalg import eigh_descending
from ..result import MetricResult
from .results import ResultSet


def average_metric(results: ResultSet) -> MetricResult:
    """Average the metrics of a set of points and eigendecompose the mean.

    ``H_avg = mean_i H_i``; top-k results contribute ``U diag(lambda) U^T`` (their rank-k
    reconstruction). The result is of kind "average": ``z`` is the mean of the points'
    codes (recorded for reference; H_avg belongs to no single point), and its meta carries
    the points' model and distance (every file of a set agrees on them) plus
    ``source_method``, ``n_points``, ``reconstructed_from_topk``, ``sources`` and
    ``code_norm_mean``, the points' codes' mean length (the mean code is far shorter: axes
    exported from the average rescale it to this length, see
    :func:`ganmetric.axes.files.typical_point`).

    Args:
        results: a :class:`~ganmetric.analysis.ResultSet` (from :func:`~ganmetric.analysis.load_results`).

    Returns:
        A :class:`~ganmetric.MetricResult` of kind "average": every eigenpair of ``H_avg`` (n), descending,
        and ``H_avg`` itself.
    """
    H = results.metrics().mean(axis=0)
    H = (H + H.T) / 2
    vals, vecs = eigh_descending(H)
    first = results.meta
    meta = {key: first[key] for key in MODEL_KEYS + DISTANCE_KEYS if key in first}
    codes = np.stack([np.asarray(r.z, dtype=np.float64).reshape(-1) for r in results.results])
    meta.update(source_method=first.get("method"), n_points=len(results), reconstructed_from_topk=not results.full,
                sources=[r.path.name if r.path is not None else None for r in results.results],
                code_norm_mean=float(np.linalg.norm(codes, axis=1).mean()))
    return MetricResult(eigvals=vals, eigvecs=vecs, z=codes.mean(axis=0), H=H, kind="average", method="average",
                        meta=meta)
