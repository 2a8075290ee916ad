"""Generators: the interface, adapters per family and the pretrained registry."""
from .base import Generator, ModuleGenerator
from .biggan import BigGANGenerator
from .dcgan import ConditionalDCGANGenerator, DCGANGenerator
from .registry import FAMILIES, available_configs, load_generator, register_family
from .stylegan2 import StyleGAN2Generator, stylegan2_from_checkpoint

__all__ = ["Generator", "ModuleGenerator", "DCGANGenerator", "ConditionalDCGANGenerator", "BigGANGenerator",
           "StyleGAN2Generator", "stylegan2_from_checkpoint", "FAMILIES", "available_configs", "load_generator",
           "register_family"]
