"""Generators: the interface, adapters per family, the pretrained registry and model provenance."""
from .base import Generator, ModuleGenerator
from .biggan import BigGANGenerator
from .dcgan import ConditionalDCGANGenerator, DCGANGenerator
from .families import FAMILIES, register_family
from .registry import available_configs, load_generator
from .spec import ModelSpec, check_same_model, describe_model, load_recorded_generator, model_meta
from .stylegan2 import StyleGAN2Generator, stylegan2_from_checkpoint
from .weights import fetch_pypi_member, is_cached

__all__ = ["Generator", "ModuleGenerator", "DCGANGenerator", "ConditionalDCGANGenerator", "BigGANGenerator",
           "StyleGAN2Generator", "stylegan2_from_checkpoint", "FAMILIES", "available_configs", "load_generator",
           "register_family", "ModelSpec", "model_meta", "check_same_model", "describe_model",
           "load_recorded_generator", "fetch_pypi_member", "is_cached"]
