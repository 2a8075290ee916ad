"""Image distances, ``load_distance`` and the distances' provenance in result files."""
from __future__ import annotations

from .. import checks
from ..errors import InputError
from .base import Distance, FeatureDistance, FunctionDistance, MSEDistance
from .lpips_distance import LPIPSDistance
from .spec import (DEFAULT_DISTANCE, DistanceSpec, check_same_distance, describe_distance, distance_differences,
                   distance_meta, load_recorded_distance)

DISTANCES = ("mse", "lpips-alex", "lpips-vgg", "lpips-squeeze")


def load_distance(spec: str = "lpips-alex", *, device="cpu", dtype=None, lpips_backbone: str | None = None,
                  resize: int | None = None) -> Distance:
    """Build a distance by name.

    Args:
        spec: one of ``mse``, ``lpips-alex``, ``lpips-vgg``, ``lpips-squeeze``.
        device: where it runs.
        dtype: "float32" (default) or "float64".
        lpips_backbone: LPIPS only: "pretrained" (default), "random" (= "random:0"),
            "random:SEED" (an untrained backbone drawn from SEED: the same weights every
            run) or the path of a torchvision state dict.
        resize: LPIPS only: resize images to this square side first.

    Raises:
        InputError: unknown spec, or an LPIPS option given for mse; WeightsError: LPIPS
            weights unavailable.
    """
    if isinstance(spec, Distance):
        return spec
    checks.one_of("distance", spec, DISTANCES)
    dev, dt = checks.device(device), checks.dtype(dtype or "float32")
    if spec == "mse":
        for name, value in (("lpips_backbone", lpips_backbone), ("resize", resize)):
            if value is not None and not (name == "lpips_backbone" and value == "pretrained"):
                raise InputError(f"{name} applies to LPIPS distances only, not mse", argument=name)
        dist = MSEDistance()
    else:
        dist = LPIPSDistance(spec.split("-", 1)[1], backbone=lpips_backbone or "pretrained", resize=resize)
    return dist.to(device=dev, dtype=dt).freeze()


__all__ = ["Distance", "FeatureDistance", "FunctionDistance", "MSEDistance", "LPIPSDistance", "DISTANCES",
           "load_distance", "DistanceSpec", "DEFAULT_DISTANCE", "distance_meta", "describe_distance", "check_same_distance", "distance_differences",
           "load_recorded_distance"]
