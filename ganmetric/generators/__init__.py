"""Generators: the interface, adapters per family and the pretrained registry."""
from .base import Generator, ModuleGenerator
from .biggan import BigGANGenerator
from .dcgan import ConditionalDCGANGenerator, DCGANGenerator
from .registry import FAMILIES, available_configs, load_generator, register_family

__all__ = ["Generator", "ModuleGenerator", "DCGANGenerator", "ConditionalDCGANGenerator", "BigGANGenerator",
           "FAMILIES", "available_configs", "load_generator", "register_family"]
