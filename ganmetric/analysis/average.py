"""The average metric over many points and its eigendecomposition (the global axes)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..linalg import eigh_descending
from .results import ResultSet


@dataclass(frozen=True)
class AverageMetric:
    """``H_avg = mean_i H_i`` and its eigenpairs; saved with :func:`ganmetric.save_result` as kind "average".

    Attributes:
        eigvals: (n,) descending. eigvecs: (n, n) columns. H: (n, n).
        z: (n,) mean of the points' codes (recorded for reference; H_avg belongs to no single point).
        n_points: number of metrics averaged.
        reconstructed: some H_i were rebuilt from top-k eigenpairs.
        method: "average".
    """

    eigvals: np.ndarray
    eigvecs: np.ndarray
    H: np.ndarray
    z: np.ndarray
    n_points: int
    reconstructed: bool
    method: str = "average"
    seconds: float | None = None
    residuals: None = None
    converged: bool = True
    options: dict = field(default_factory=dict)

    def meta(self, results: ResultSet) -> dict:
        """Metadata for the result file: kind "average", the source model, distance and points."""
        m = results.meta
        return {"kind": "average", "model": m.get("model"), "latent_space": m.get("latent_space"),
                "distance": m.get("distance"), "distance_options": m.get("distance_options"),
                "source_method": m.get("method"), "n_points": self.n_points,
                "reconstructed_from_topk": self.reconstructed,
                "sources": [r.path.name for r in results.results], "seed": None}


def average_metric(results: ResultSet) -> AverageMetric:
    """Average the metrics of a set of points and eigendecompose the mean.

    Top-k results contribute ``U diag(lambda) U^T`` (their rank-k reconstruction).
    """
    H = results.metrics().mean(axis=0)
    H = (H + H.T) / 2
    vals, vecs = eigh_descending(H)
    return AverageMetric(eigvals=vals, eigvecs=vecs, H=H,
                         z=np.mean([r.z.reshape(-1) for r in results.results], axis=0),
                         n_points=len(results), reconstructed=not results.full)
