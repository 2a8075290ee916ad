"""Geometry at scale: batch metrics over many points, spectra and anisotropy, homogeneity, average metric,
and the comparison of two metrics."""
from .average import average_metric
from .batch import BatchSummary, batch_metric
from .batch_folder import MAX_POINTS, batch_codes, point_name
from .compare import MetricComparison, compare_metrics
from .compress import Compression, compress
from .compress_plots import plot_compression_curve, plot_compression_montage
from .distributed import process_group
from .homogeneity import Homogeneity, homogeneity
from .layer_plots import plot_layer_spectra, plot_layer_summary
from .layers import LayerMetrics, layer_metrics, layers_table, resolve_layers
from .plots import plot_comparison, plot_homogeneity_heatmap, plot_homogeneity_hist, plot_spectrum
from .results import ResultSet, load_results
from .spectrum import ANISOTROPY_DEFINITION, THRESHOLDS, SpectrumStats, anisotropy_counts, spectrum_stats

__all__ = ["batch_metric", "BatchSummary", "batch_codes", "point_name", "MAX_POINTS", "process_group", "load_results",
           "ResultSet", "spectrum_stats", "SpectrumStats", "anisotropy_counts", "THRESHOLDS",
           "ANISOTROPY_DEFINITION", "homogeneity", "Homogeneity", "average_metric",
           "compare_metrics", "MetricComparison", "plot_spectrum", "plot_homogeneity_heatmap",
           "plot_homogeneity_hist", "plot_comparison", "layer_metrics", "LayerMetrics", "layers_table",
           "resolve_layers", "plot_layer_spectra", "plot_layer_summary", "compress", "Compression",
           "plot_compression_curve", "plot_compression_montage"]
