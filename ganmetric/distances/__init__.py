"""Image distances, ``load_distance``, the registry of distances and their provenance in result files.

Importing this package registers the built-in distances (``mse`` in :mod:`.base`, ``lpips-*``
in :mod:`.lpips_distance`, ``layer:NAME`` in :mod:`.layer`).
"""
from __future__ import annotations

from .base import Distance, FeatureDistance, FunctionDistance, MSEDistance
from .custom import load_custom_distance
from .layer import LAYER_PREFIX, LayerDistance, LayerInfo, check_layers, generator_layers, is_layer_spec
from .load import distance_entries, distance_entry, distance_forms, load_distance
from .lpips_distance import LPIPSDistance
from .registry import DISTANCES, DistanceEntry, DistanceOption, register_distance, shell_options
from .spec import (DEFAULT_DISTANCE, DistanceSpec, check_same_distance, describe_distance, distance_differences,
                   distance_meta, load_recorded_distance, recorded_distance_spec)

__all__ = ["Distance", "FeatureDistance", "FunctionDistance", "MSEDistance", "LPIPSDistance", "DISTANCES",
           "DistanceEntry", "DistanceOption", "register_distance", "shell_options", "distance_entry",
           "distance_entries", "distance_forms",
           "load_custom_distance", "LayerDistance", "LayerInfo", "LAYER_PREFIX", "generator_layers", "check_layers",
           "is_layer_spec", "load_distance", "DistanceSpec", "DEFAULT_DISTANCE", "distance_meta", "describe_distance",
           "check_same_distance", "distance_differences", "load_recorded_distance", "recorded_distance_spec"]
