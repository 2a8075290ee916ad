"""Generators: the interface, adapters per family, the pretrained registry and model provenance.

The family modules (DCGAN, BigGAN, StyleGAN2, DeePSim, pytorch_GAN_zoo, StyleGAN, BigBiGAN) are
imported on first use: by a model that needs them, or by asking this package for one of their names.
"""
import importlib

from .base import Generator, ModuleGenerator
from .families import FAMILIES, register_family
from .registry import available_configs, load_generator
from .spec import ModelSpec, check_same_model, describe_model, load_recorded_generator, model_meta
from .weights import cached_state, fetch_pypi_member, hub_cache_path, is_cached, resolve_user_file

#: exported name -> the family module defining it (imported when the name is first asked for)
_LAZY = {"DCGANGenerator": "dcgan", "ConditionalDCGANGenerator": "dcgan", "BigGANGenerator": "biggan",
         "StyleGAN2Generator": "stylegan2", "stylegan2_from_checkpoint": "stylegan2"}
_LAZY.update({"DeePSimGenerator": "deepsim", "PGGANGenerator": "ganzoo", "ZooDCGANGenerator": "ganzoo"})
_LAZY.update({"StyleGAN1Generator": "stylegan1", "BigBiGANGenerator": "bigbigan"})


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Generator", "ModuleGenerator", "DCGANGenerator", "ConditionalDCGANGenerator", "BigGANGenerator",
           "StyleGAN2Generator", "stylegan2_from_checkpoint", "FAMILIES", "available_configs", "load_generator",
           "register_family", "ModelSpec", "model_meta", "check_same_model", "describe_model",
           "load_recorded_generator", "fetch_pypi_member", "is_cached", "cached_state", "hub_cache_path",
           "resolve_user_file"]
__all__ += ["StyleGAN1Generator", "BigBiGANGenerator"]
