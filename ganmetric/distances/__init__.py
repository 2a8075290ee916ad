"""Image distances and ``load_distance``."""
from __future__ import annotations

from .. import checks
from .base import Distance, FeatureDistance, FunctionDistance, MSEDistance
from .lpips_distance import LPIPSDistance

DISTANCES = ("mse", "lpips-alex", "lpips-vgg", "lpips-squeeze")


def load_distance(spec: str = "lpips-alex", *, device="cpu", dtype=None, lpips_backbone: str = "pretrained",
                  resize: int | None = None) -> Distance:
    """Build a distance by name.

    Args:
        spec: one of ``mse``, ``lpips-alex``, ``lpips-vgg``, ``lpips-squeeze``.
        device: where it runs.
        dtype: "float32" (default) or "float64".
        lpips_backbone: LPIPS only: "pretrained", "random" or a path to a torchvision state dict.
        resize: LPIPS only: resize images to this square side first.

    Raises:
        InputError: unknown spec or option; WeightsError: LPIPS weights unavailable.
    """
    if isinstance(spec, Distance):
        return spec
    checks.one_of("distance", spec, DISTANCES)
    dev, dt = checks.device(device), checks.dtype(dtype or "float32")
    if spec == "mse":
        dist = MSEDistance()
    else:
        dist = LPIPSDistance(spec.split("-", 1)[1], backbone=lpips_backbone, resize=resize)
    return dist.to(device=dev, dtype=dt).freeze()


__all__ = ["Distance", "FeatureDistance", "FunctionDistance", "MSEDistance", "LPIPSDistance", "DISTANCES",
           "load_distance"]
