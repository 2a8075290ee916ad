"""NVIDIA StyleGAN2-ADA and StyleGAN3 network pickles, read without running the code inside them.

``load_nvidia_pickle(path, latent_space=..., **options)`` is the one entry point (the registry
routes ``.pkl`` files to it); see :mod:`.family` for the generator, :mod:`.pickles` for the
restricted reader, :mod:`.build` for the check against NVIDIA's structure, and :mod:`.sg2`,
:mod:`.sg3`, :mod:`.mapping`, :mod:`.ops` for the networks.
"""
from .family import NvidiaGenerator, load_nvidia_pickle, random_nvidia_generator

__all__ = ["NvidiaGenerator", "load_nvidia_pickle", "random_nvidia_generator"]
