"""Spectrum statistics over many points: mean spectrum, percentile band, anisotropy counts.

The anisotropy count for a threshold ``t`` is the number of leading eigenvalues, sorted
by magnitude (descending ``|lambda|``), whose cumulative sum first reaches the fraction
``t`` of the total: ``min { m : sum_{i<=m} |lambda_i| >= t * sum_i |lambda_i| }``. A
100-dimensional metric with count 10 at 0.99 puts 99% of its image change into 10
directions. For top-k results the total is the sum of the k stored eigenvalues.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from ..linalg import ANISOTROPY_DEFINITION, THRESHOLDS, anisotropy_counts  # noqa: F401  (re-exported)
from .results import ResultSet


@dataclass(frozen=True)
class SpectrumStats:
    """Spectra of N points.

    Attributes:
        spectra: (N, k) eigenvalues sorted by magnitude, per point.
        mean: (k,) rank-wise mean spectrum.
        p5, p95: (k,) rank-wise 5th/95th percentiles.
        thresholds: the cumulative fractions.
        mean_counts: (T,) anisotropy counts of the mean spectrum.
        point_counts: (N, T) anisotropy counts of each point.
        full: the points hold full spectra (False: top-k, counts are relative to the top-k sum).
        dim: latent size n.
    """

    spectra: np.ndarray
    mean: np.ndarray
    p5: np.ndarray
    p95: np.ndarray
    thresholds: tuple[float, ...]
    mean_counts: np.ndarray
    point_counts: np.ndarray
    full: bool
    dim: int

    def table(self) -> list[dict]:
        """One row per threshold: count of the mean spectrum, and per-point mean, std, min, median, max."""
        rows = []
        for t, c, pc in zip(self.thresholds, self.mean_counts, self.point_counts.T):
            rows.append({"threshold": t, "mean_spectrum": int(c), "per_point_mean": float(pc.mean()),
                         "per_point_std": float(pc.std()), "per_point_min": int(pc.min()),
                         "per_point_median": float(np.median(pc)), "per_point_max": int(pc.max())})
        return rows

    def to_csv(self) -> str:
        """The anisotropy table as CSV text."""
        buf = io.StringIO()
        rows = self.table()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()


def spectrum_stats(results: ResultSet, *, thresholds=THRESHOLDS) -> SpectrumStats:
    """Mean spectrum, 5-95 percentile band and anisotropy counts of a set of results.

    Args:
        results: from :func:`~ganmetric.analysis.load_results`.
        thresholds: cumulative fractions for the counts.

    Returns:
        The :class:`SpectrumStats` (``.table()`` and ``.to_csv()`` format it).

    Raises:
        InputError: bad thresholds or an all-zero spectrum.
    """
    spectra = np.sort(np.abs(results.eigvals), axis=1)[:, ::-1]
    mean = spectra.mean(axis=0)
    p5, p95 = np.percentile(spectra, [5, 95], axis=0)
    thresholds = tuple(float(t) for t in thresholds)
    return SpectrumStats(spectra=spectra, mean=mean, p5=p5, p95=p95, thresholds=thresholds,
                         mean_counts=anisotropy_counts(mean, thresholds),
                         point_counts=anisotropy_counts(spectra, thresholds),
                         full=results.full and results.k == results.dim, dim=results.dim)
