"""Users' own generators: ``module.path:factory`` plus an optional weights file.

The interface (``--model my_pkg.nets:make_generator`` on the command line,
``load_generator("my_pkg.nets:make_generator", weights=...)`` in Python):

- ``factory`` is a callable in an importable module (installed, on ``PYTHONPATH``, or in
  the current directory), called with no arguments (bind arguments with
  ``functools.partial`` or a small wrapper function in your module).
- It returns either a ganmetric :class:`~ganmetric.generators.base.Generator` (used as is),
  or any ``nn.Module`` mapping codes (B, n) to images (B, C, H, W). A plain module is
  wrapped in a :class:`~ganmetric.generators.base.ModuleGenerator`; its latent size n is
  the ``latent_dim=`` option (``--latent-dim``) or else the module's ``latent_dim``
  attribute; output in [-1, 1] unless ``output_range="0,1"``; ``input_shape="nchw"`` passes
  codes as (B, n, 1, 1) (DCGAN-style).
- ``weights`` (``--weights FILE``): a state dict saved with ``torch.save``, loaded with
  ``torch.load(weights_only=True)`` and ``load_state_dict(strict=True)`` into the returned
  module (a dict holding it under ``"state_dict"`` is accepted too). Missing or unexpected
  keys are an error, never silently ignored.

The generator must be deterministic and row-independent (eval mode: no dropout, batch
norm with running statistics); ganmetric puts it in eval mode and the metric engine's
determinism probe checks it.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from .. import checks
from ..errors import InputError, UntrainedWeightsWarning, WeightsError, first_line
from ..io import load_torch_file
from ..usercode import FACTORY_PATTERN, import_factory, is_factory_spec  # noqa: F401 (re-exported)
from .base import Generator, ModuleGenerator, load_state_strict
from .weights import user_weights_info

def load_state_file(path) -> dict:
    """A state dict from ``torch.save`` output, read with ``weights_only=True``.

    Raises:
        InputError: the file does not exist.
        WeightsError: unreadable, or not a state dict.
    """
    path = Path(path).expanduser()
    obj = load_torch_file(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"weights file {path} must hold a state dict (names -> tensors), "
                           f"got {type(obj).__name__}")
    return obj



def check_image_output(gen: Generator, where: str) -> int:
    """Call ``gen`` on batches of one and two zero codes; return the image side.

    Raises:
        InputError: a call fails (e.g. a fixed batch size), or the output is not (B, C, H, W).
    """
    for batch in (1, 2):
        try:
            with torch.no_grad():
                out = gen(torch.zeros(batch, gen.latent_dim, device=gen.device, dtype=gen.dtype))
        except Exception as exc:
            raise InputError(f"{where}: calling it on a batch of {batch} code(s) of size {gen.latent_dim} failed "
                             f"({first_line(exc)})", argument="model") from exc
        if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != batch:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise InputError(f"{where}: expected images (B, C, H, W) for B = {batch} codes, got {shape}",
                             argument="model")
    return int(out.shape[-1])


def load_custom_generator(spec: str, *, weights=None, latent_dim: int | None = None, output_range: str = "-1,1",
                          input_shape: str = "flat", latent_space: str | None = None) -> Generator:
    """Build a user's generator from ``module.path:factory`` (see the module docstring).

    Args:
        spec: ``module.path:factory``.
        weights: optional state-dict file loaded strictly into the returned module.
        latent_dim: latent size of a plain ``nn.Module`` (else its ``latent_dim`` attribute).
        output_range: "-1,1" or "0,1" (plain modules only).
        input_shape: "flat" or "nchw" (plain modules only).
        latent_space: must be one of a returned Generator's ``latent_spaces``; names the
            space of a plain module (default "z").

    Without ``weights`` the module keeps the initial weights its factory gave it: the
    generator's ``weights`` record is None and an :class:`~ganmetric.errors.UntrainedWeightsWarning`
    is issued (say so to whoever reads the results).

    Raises:
        InputError: import failure, factory failure, wrong return type, unknown latent
            size, or an output that is not a batch of images.
        WeightsError: unreadable weights, or keys/shapes not matching the module.
    """
    factory = import_factory(spec)
    try:
        module = factory()
    except Exception as exc:
        raise InputError(f"{spec}() failed: {type(exc).__name__}: {first_line(exc)}", argument="model") from exc
    if not isinstance(module, nn.Module):
        raise InputError(f"{spec}() must return a torch.nn.Module or a ganmetric Generator, "
                         f"got {type(module).__name__}", argument="model")
    if weights is not None:
        load_state_strict(module, load_state_file(weights), weights)
    if isinstance(module, Generator):
        if latent_dim is not None and latent_dim != module.latent_dim:
            raise InputError(f"{spec}: latent_dim {latent_dim} was given but the generator it returns has "
                             f"{module.latent_dim}", argument="latent_dim")
        if latent_space is not None:
            checks.one_of("latent_space", latent_space, module.latent_spaces, what=f"latent space of {module.name}")
            if latent_space != module.latent_space:
                raise InputError(f"{spec}: the factory returned latent space {module.latent_space}; "
                                 f"build the {latent_space} one in the factory", argument="latent_space")
        gen = module
    else:
        dim = latent_dim if latent_dim is not None else getattr(module, "latent_dim", None)
        if dim is None:
            raise InputError(f"{spec}: latent size unknown; give {{latent_dim}} (or a latent_dim attribute on the "
                             f"module)", argument="latent_dim", mentions=("latent_dim",))
        gen = ModuleGenerator(module, name=spec, latent_dim=checks.positive_int("latent_dim", int(dim)),
                              output_range=output_range, input_shape=input_shape, latent_space=latent_space or "z")
    gen.name = spec  # as the user wrote it, whatever the module calls itself
    gen.weights = user_weights_info(weights) if weights is not None else None
    if weights is None:
        warnings.warn(f"{spec} runs on its untrained initial weights (no weights file given)",
                      UntrainedWeightsWarning, stacklevel=3)
    gen.freeze()
    side = check_image_output(gen, spec)
    if gen.resolution is None:
        gen.resolution = side
    return gen
