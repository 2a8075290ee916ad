"""ganmetric: the Riemannian geometry of generative models' latent spaces.

The public surface::

    G = ganmetric.load_generator("dcgan-face")
    D = ganmetric.load_distance("lpips-alex", lpips_backbone="random")
    res = ganmetric.metric_tensor(G, D, G.sample(1, seed=0))
"""
__version__ = "0.1.0"

from .distances import Distance, load_distance
from .errors import GanmetricError, InputError, NotDeterministicError, NumericalWarning, ResultFileError, WeightsError
from .generators import Generator, load_generator
from .hessian import METHODS, MetricResult, metric_tensor
from .inversion import InversionResult, invert, load_image
from .io import LoadedResult, load_result, save_result

__all__ = ["__version__", "load_generator", "load_distance", "metric_tensor", "save_result", "load_result",
           "Generator", "Distance", "MetricResult", "LoadedResult", "METHODS", "GanmetricError", "InputError",
           "WeightsError", "NotDeterministicError", "ResultFileError", "NumericalWarning",
           "invert", "InversionResult", "load_image"]
