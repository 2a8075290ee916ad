"""The Distance interface: per-pair image distances, with a squared-feature form when one exists."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..placement import SupportedDtypes
from .registry import register_distance


class Distance(SupportedDtypes, nn.Module):
    """An image distance ``d(x, y) >= 0`` with ``d(x, x) = 0``, frozen and in eval mode.

    ``forward(x, y)`` takes image batches (B, C, H, W) in [-1, 1] (either side may have
    B = 1 and broadcast) and returns (B,) distances. Distances with the squared-feature
    form ``d(x, y) = ||features(x) - features(y)||^2`` set ``has_features = True``; the
    metric engine then uses the exact Gauss-Newton identity ``H = 2 J^T J``.

    What it compares for latent codes Z is :meth:`inputs` (the images ``G(Z)``; a distance
    of the generator's own layers reads their activations instead): the metric engine,
    compression, paths and axes go through it, so every distance works there alike.

    Attributes:
        name: the spec it was built from (e.g. "lpips-alex").
        options: the options that define it (recorded in result files).
        has_features: it has the squared-feature form.
        compares_images: :meth:`inputs` are the generator's images (False: something else
            the generator computes, such as a layer's activations).
    """

    has_features: bool = False
    compares_images: bool = True

    def __init__(self, name: str, options: dict | None = None):
        super().__init__()
        self.name = name
        self.options = dict(options or {})

    def freeze(self) -> "Distance":
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Weighted, flattened features (B, F) with ``d(x, y) = ||f(x) - f(y)||^2``."""
        raise NotImplementedError(f"distance {self.name!r} has no squared-feature form")

    def feature_scale(self, shape: tuple) -> float:
        """The constant factor c with ``features(x) = c * unscaled_features(x)``.

        The metric engine differentiates :meth:`unscaled_features` and multiplies the Gram
        matrix by ``c**2`` once: under ``vmap(jvp(...))`` a product of the tangents with a
        constant runs a Python decomposition (a pass over every tangent, and on its first
        call an import of ``torch._dynamo``, about 2 s), the Gram's scaling a single
        multiply of an (n, n) matrix.

        Args:
            shape: the shape of one input item, e.g. (C, H, W).
        """
        return 1.0

    def unscaled_features(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, F) without the constant factor :meth:`feature_scale`."""
        return self.features(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.features(x) - self.features(y)).pow(2).sum(dim=1)

    def inputs(self, G, Z: torch.Tensor) -> torch.Tensor:
        """What this distance compares for codes Z: here the images ``G(Z)``.

        Called inside the maps the metric engine differentiates (``torch.func`` transforms see
        an ordinary function of Z).

        Args:
            G: the generator.
            Z: (m, n) codes on G's device and dtype.

        Returns:
            (m, ...) what :meth:`forward` and :meth:`features` take.
        """
        return G(Z)

    def code_distance(self, G, Z0: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        """``d`` between codes row by row, ``d(inputs(z0_i), inputs(z_i))`` (either side may have one row).

        Args:
            G: the generator.
            Z0: (m, n) or (1, n) codes.
            Z: (m, n) or (1, n) codes.

        Returns:
            (m,) distances.
        """
        return self(self.inputs(G, Z0), self.inputs(G, Z))

    def check_generator(self, G) -> None:
        """Refuse a generator this distance cannot read (image distances take any: nothing to check).

        Raises:
            InputError: (in subclasses) G cannot give what the distance compares.
        """

    def extra_repr(self) -> str:
        return f"name={self.name!r}, options={self.options}"


class FeatureDistance(Distance):
    """A distance given by a user's feature map ``phi``: ``d(x, y) = ||phi(x) - phi(y)||^2``.

    It has the squared-feature form, so every method of :func:`~ganmetric.metric_tensor` works with it,
    the fast exact ones (``jacobian``, ``gn-lanczos``) included.

    Args:
        phi: images (B, C, H, W) -> features (B, ...), differentiable (flattened to (B, F)).
        name: the distance's name in result files and summaries.
    """

    has_features = True

    def __init__(self, phi: Callable[[torch.Tensor], torch.Tensor], name: str = "custom-features"):
        super().__init__(name)
        self.phi = phi

    def features(self, x):
        return self.phi(x).flatten(1)


class FunctionDistance(Distance):
    """Any twice-differentiable ``fn(x, y) -> (B,)`` without a feature form (uses exact fwd-over-rev HVPs).

    Args:
        fn: images x, y (B, C, H, W) -> (B,) distances, twice differentiable, 0 when ``x == y``.
        name: the distance's name in result files and summaries.
    """

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str = "custom"):
        super().__init__(name)
        self.fn = fn

    def forward(self, x, y):
        return self.fn(x, y)


@register_distance("mse", help="mean squared difference of the images' pixels in [-1, 1] (between 0 and 4)")
def _build_mse(spec: str) -> "MSEDistance":
    return MSEDistance()


class MSEDistance(Distance):
    """Mean squared pixel difference over C, H, W: ``d(x, y) = mean((x - y)^2)``.

    The images are the generator's output in [-1, 1], so ``d`` lies in [0, 4] (4 between an
    all-black and an all-white image) and 0.01 is a root-mean-square difference of 0.1, i.e.
    about 13 grey levels of 255. Features: ``x.flatten() / sqrt(C H W)``, whose constant
    factor the metric engine applies to the Gram matrix instead (:meth:`feature_scale`).
    """

    has_features = True

    def __init__(self):
        super().__init__("mse")

    def features(self, x):
        return self.unscaled_features(x) * self.feature_scale(x.shape[1:])

    def feature_scale(self, shape):
        return 1.0 / math.prod(shape) ** 0.5

    def unscaled_features(self, x):
        return x.flatten(1)
