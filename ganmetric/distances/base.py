"""The Distance interface: per-pair image distances, with a squared-feature form when one exists."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class Distance(nn.Module):
    """An image distance ``d(x, y) >= 0`` with ``d(x, x) = 0``, frozen and in eval mode.

    ``forward(x, y)`` takes image batches (B, C, H, W) in [-1, 1] (either side may have
    B = 1 and broadcast) and returns (B,) distances. Distances with the squared-feature
    form ``d(x, y) = ||features(x) - features(y)||^2`` set ``has_features = True``; the
    metric engine then uses the exact Gauss-Newton identity ``H = 2 J^T J``.

    Attributes:
        name: the spec it was built from (e.g. "lpips-alex").
        options: the options that define it (recorded in result files).
    """

    has_features: bool = False

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

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.features(x) - self.features(y)).pow(2).sum(dim=1)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, options={self.options}"


class FeatureDistance(Distance):
    """A distance given by a user's feature map ``phi``: ``d(x, y) = ||phi(x) - phi(y)||^2``."""

    has_features = True

    def __init__(self, phi: Callable[[torch.Tensor], torch.Tensor], name: str = "custom-features"):
        super().__init__(name)
        self.phi = phi

    def features(self, x):
        return self.phi(x).flatten(1)


class FunctionDistance(Distance):
    """Any twice-differentiable ``fn(x, y) -> (B,)`` without a feature form (uses exact fwd-over-rev HVPs)."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str = "custom"):
        super().__init__(name)
        self.fn = fn

    def forward(self, x, y):
        return self.fn(x, y)


class MSEDistance(Distance):
    """Mean squared pixel difference over C, H, W: ``d(x, y) = mean((x - y)^2)``.

    The images are the generator's output in [-1, 1], so ``d`` lies in [0, 4] (4 between an
    all-black and an all-white image) and 0.01 is a root-mean-square difference of 0.1, i.e.
    about 13 grey levels of 255. Features: ``x.flatten() / sqrt(C H W)``.
    """

    has_features = True

    def __init__(self):
        super().__init__("mse")

    def features(self, x):
        flat = x.flatten(1)
        return flat / flat.shape[1] ** 0.5
