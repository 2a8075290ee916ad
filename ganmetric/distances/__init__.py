"""Image distances, ``load_distance`` and the distances' provenance in result files."""
from __future__ import annotations

import torch

from .. import checks
from ..errors import InputError
from .base import Distance, FeatureDistance, FunctionDistance, MSEDistance
from .layer import (LAYER_PREFIX, LayerDistance, LayerInfo, check_layers, code_distance, distance_inputs,
                    generator_layers, is_layer_spec)
from .lpips_distance import LPIPSDistance
from .spec import (DEFAULT_DISTANCE, DistanceSpec, check_same_distance, describe_distance, distance_differences,
                   distance_meta, load_recorded_distance, recorded_distance_spec)

DISTANCES = ("mse", "lpips-alex", "lpips-vgg", "lpips-squeeze")
"""The names of the image distances :func:`load_distance` builds (besides ``layer:NAME``)."""


def load_distance(spec: str = "lpips-alex", *, device="cpu", dtype=None, lpips_backbone: str | None = None,
                  resize: int | None = None, generator=None) -> Distance:
    """Build a distance by name.

    Args:
        spec: one of ``mse``, ``lpips-alex``, ``lpips-vgg``, ``lpips-squeeze``, or
            ``layer:NAME[,NAME2...]``: the generator's own layers (see
            :class:`~ganmetric.distances.LayerDistance`).
        device: where it runs.
        dtype: "float32" (default) or "float64".
        lpips_backbone: LPIPS only: "pretrained" (default), "random" (= "random:0"),
            "random:SEED" (an untrained backbone drawn from SEED: the same weights every
            run) or the path of a torchvision state dict.
        resize: LPIPS only: resize images to this square side first.
        generator: layer distances: the generator whose layers they read (the names are
            checked now); without it the distance binds to the first generator it meets.
            Image distances do not depend on the generator and do not read it.

    Returns:
        The :class:`Distance`, frozen (eval mode, no gradients to its weights), on ``device``.

    Raises:
        InputError: unknown spec, an LPIPS option given for mse or a layer distance, or a
            layer the generator cannot give
            (with near matches); WeightsError: LPIPS weights unavailable.
    """
    if isinstance(spec, Distance):
        return spec
    if not is_layer_spec(spec):
        checks.one_of("distance", spec, DISTANCES + (LAYER_PREFIX + "NAME",))
    dev, dt = checks.device(device), checks.dtype(dtype or "float32")
    if spec == "mse" or is_layer_spec(spec):
        for name, value in (("lpips_backbone", lpips_backbone), ("resize", resize)):
            if value is not None and not (name == "lpips_backbone" and value == "pretrained"):
                raise InputError(f"{name} applies to LPIPS distances only, not {spec}", argument=name)
        dist = MSEDistance() if spec == "mse" else LayerDistance(spec, generator=generator)
    else:
        # built on the CPU whatever the default device, then moved; the global RNG the modules'
        # default initialisation draws from (then overwritten) is restored
        with torch.random.fork_rng(devices=[]), torch.device("cpu"):
            dist = LPIPSDistance(spec.split("-", 1)[1], backbone=lpips_backbone or "pretrained", resize=resize)
    return dist.to(device=dev, dtype=dt).freeze()


__all__ = ["Distance", "FeatureDistance", "FunctionDistance", "MSEDistance", "LPIPSDistance", "DISTANCES",
           "LayerDistance", "LayerInfo", "LAYER_PREFIX", "generator_layers", "check_layers", "distance_inputs",
           "code_distance", "is_layer_spec",
           "load_distance", "DistanceSpec", "DEFAULT_DISTANCE", "distance_meta", "describe_distance",
           "check_same_distance", "distance_differences", "load_recorded_distance", "recorded_distance_spec"]
