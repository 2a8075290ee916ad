"""ganmetric: the Riemannian geometry of generative models' latent spaces.

The public surface::

    G = ganmetric.load_generator("dcgan-face")
    D = ganmetric.load_distance("lpips-alex", lpips_backbone="random")
    res = ganmetric.metric_tensor(G, D, G.sample(1, seed=0))
    res.save("face.npz")            # the file records the model, the distance and the solver options
"""
__version__ = "0.1.0"

from .axes import Axes, apply_axis, export_axes, load_axes
from .distances import Distance, DistanceSpec, load_distance
from .errors import (DeviceWarning, GanmetricError, InputError, NonFiniteError, NotDeterministicError,
                     NumericalWarning, OutOfMemoryWarning, ResultFileError, UntrainedWeightsWarning, WeightsError)
from .errors import FolderLockedError, OutputError
from .errors import UnknownSourceWarning
from .generators import Generator, ModelSpec, load_generator
from .hessian import METHODS, metric_tensor, resolve_method, unused_options
from .inversion import InversionResult, invert, load_image
from .result import MetricResult, load_result, save_result
from .analysis import average_metric, batch_metric, homogeneity, load_results, spectrum_stats
from .blackbox import optimize
from .paths import LatentPath, geodesic, linear_path, path_length, slerp_path

__all__ = ["__version__", "load_generator", "load_distance", "metric_tensor", "save_result", "load_result",
           "Generator", "Distance", "ModelSpec", "DistanceSpec", "MetricResult", "METHODS", "resolve_method",
           "unused_options", "GanmetricError", "InputError", "WeightsError", "NotDeterministicError", "ResultFileError",
           "NonFiniteError",
           "NumericalWarning", "UntrainedWeightsWarning", "OutOfMemoryWarning", "DeviceWarning",
           "UnknownSourceWarning",
           "batch_metric", "load_results", "spectrum_stats", "homogeneity", "average_metric",
           "Axes", "export_axes", "load_axes", "apply_axis",
           "invert", "InversionResult", "load_image", "optimize",
           "geodesic", "path_length", "linear_path", "slerp_path", "LatentPath", "OutputError", "FolderLockedError"]
