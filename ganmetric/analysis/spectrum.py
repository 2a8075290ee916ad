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

from ..errors import InputError
from .results import ResultSet

THRESHOLDS = (0.99, 0.999, 0.9999, 0.99999)


def anisotropy_counts(eigvals, thresholds=THRESHOLDS) -> np.ndarray:
    """Leading-eigenvalue counts reaching each cumulative fraction of the total.

    Args:
        eigvals: (k,) or (N, k) eigenvalues (any order, any sign; sorted by magnitude here).
        thresholds: fractions in (0, 1].

    Returns:
        int array (len(thresholds),) or (N, len(thresholds)).

    Raises:
        InputError: a threshold outside (0, 1], non-finite values, or an all-zero spectrum.
    """
    vals = np.abs(np.asarray(eigvals, dtype=np.float64))
    th = np.asarray(thresholds, dtype=np.float64)
    if th.ndim != 1 or np.any(th <= 0) or np.any(th > 1):
        raise InputError(f"thresholds must lie in (0, 1], got {list(np.atleast_1d(th))}")
    if not np.isfinite(vals).all():
        raise InputError("eigenvalues contain NaN or inf")
    single = vals.ndim == 1
    vals = np.sort(np.atleast_2d(vals), axis=1)[:, ::-1]
    total = vals.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise InputError("a spectrum is all zeros; anisotropy counts are undefined")
    frac = np.cumsum(vals, axis=1) / total
    # a tolerance of a few ulps so that a fraction that reaches t exactly (e.g. 1.0) counts
    reached = frac[:, :, None] >= th[None, None, :] - 8 * np.finfo(np.float64).eps
    counts = np.argmax(reached, axis=1) + 1
    return counts[0] if single else counts


@dataclass(frozen=True)
class SpectrumStats:
    """Spectra of N points.

    Attributes:
        spectra: (N, k) eigenvalues sorted by magnitude, per point.
        mean: (k,) rank-wise mean spectrum. p5, p95: (k,) rank-wise 5th/95th percentiles.
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
