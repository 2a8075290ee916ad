"""Generators saved to a file: TorchScript (``torch.jit.save``) or exported programs (``torch.export.save``, .pt2).

The saved module must map codes (B, n) to images (B, C, H, W). Output range: [-1, 1]
by default, or [0, 1] with ``output_range="0,1"`` (rescaled). The latent size comes
from ``latent_dim=`` or, if not given, from the file: a TorchScript module's
``latent_dim`` attribute, or the exported program's input shape. An exported program
must be exported with a dynamic batch dimension (the engine batches products).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import InputError
from .base import ModuleGenerator


def load_saved_generator(path, *, latent_dim: int | None = None, output_range: str = "-1,1",
                         input_shape: str = "flat", **unused) -> ModuleGenerator:
    """Load a TorchScript or exported-program generator.

    Raises:
        InputError: missing or unreadable file, unknown latent size, or a fixed batch size.
    """
    if unused:
        raise InputError(f"unknown option(s) for a saved generator: {', '.join(sorted(unused))}")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"generator file not found: {path}")
    if path.suffix == ".pt2":
        try:
            program = torch.export.load(str(path))
        except Exception as exc:
            raise InputError(f"cannot read exported program {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from exc
        module = program.module()
        if latent_dim is None:
            specs = [s for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
            node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == specs[0].arg.name)
            latent_dim = int(node.meta["val"].shape[-1])
    else:
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise InputError(f"cannot read TorchScript file {path} (saved with torch.jit.save?): "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        if latent_dim is None:
            latent_dim = getattr(module, "latent_dim", None)
        if latent_dim is None:
            raise InputError(f"{path.name}: latent size unknown; pass --latent-dim (or save a 'latent_dim' attribute)")
    gen = ModuleGenerator(module, name=path.name, latent_dim=int(latent_dim), output_range=output_range,
                          input_shape=input_shape)
    try:
        with torch.no_grad():
            out = gen(torch.zeros(2, gen.latent_dim))
    except Exception as exc:
        raise InputError(f"{path.name}: calling it on a batch of 2 codes of size {gen.latent_dim} failed "
                         f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); for .pt2 files export "
                         f"with a dynamic batch dimension") from exc
    if out.dim() != 4 or out.shape[0] != 2:
        raise InputError(f"{path.name}: expected images (B, C, H, W), got shape {tuple(out.shape)}")
    gen.resolution = int(out.shape[-1])
    return gen
