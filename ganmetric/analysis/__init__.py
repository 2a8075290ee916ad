"""Geometry at scale: batch metrics over many points, spectra and anisotropy, homogeneity, average metric."""
from .average import AverageMetric, average_metric
from .batch import BatchSummary, batch_metric, point_name
from .homogeneity import Homogeneity, homogeneity, vhv_matrix
from .plots import plot_homogeneity_heatmap, plot_homogeneity_hist, plot_spectrum
from .results import ResultSet, load_results
from .spectrum import THRESHOLDS, SpectrumStats, anisotropy_counts, spectrum_stats

__all__ = ["batch_metric", "BatchSummary", "point_name", "load_results", "ResultSet", "spectrum_stats",
           "SpectrumStats", "anisotropy_counts", "THRESHOLDS", "homogeneity", "Homogeneity", "vhv_matrix",
           "average_metric", "AverageMetric", "plot_spectrum", "plot_homogeneity_heatmap",
           "plot_homogeneity_hist"]
