"""Where a module lives: one helper for its device and floating dtype, and the dtype agreement check.

Every place that needs to put a tensor next to a generator or distance asks here, so that a
module without parameters, one with only buffers, and a user's plain callable are handled
the same way everywhere.
"""
from __future__ import annotations

import torch

from .errors import InputError


def module_dtype(module) -> torch.dtype | None:
    """The dtype of a module's first floating parameter or buffer (None if it has none)."""
    for source in (getattr(module, "parameters", None), getattr(module, "buffers", None)):
        if source is None:
            continue
        for t in source():
            if t.is_floating_point():
                return t.dtype
    return None


def module_device(module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU if it has none)."""
    for source in (getattr(module, "parameters", None), getattr(module, "buffers", None)):
        if source is None:
            continue
        for t in source():
            return t.device
    return torch.device("cpu")


def placement(module) -> dict:
    """``{"device": ..., "dtype": ...}`` of a module, ready for ``tensor.to(**placement(G))``.

    A module with no floating tensors gets torch's default dtype.
    """
    return {"device": module_device(module), "dtype": module_dtype(module) or torch.get_default_dtype()}


def check_same_dtype(G, D) -> torch.dtype:
    """The generator's dtype, after checking that the distance (if it has tensors) uses the same one.

    Raises:
        InputError: the two were loaded with different dtypes.
    """
    g = module_dtype(G) or torch.get_default_dtype()
    d = module_dtype(D) if D is not None else None
    if d is not None and d != g:
        name = lambda t: str(t).replace("torch.", "")  # noqa: E731
        raise InputError(f"the distance is {name(d)} but the generator is {name(g)}; load both with the same dtype")
    return g


class SupportedDtypes:
    """Mixin for ganmetric's modules (generators, distances): ``.to()``, ``.half()`` and
    ``.bfloat16()`` to a dtype other than float32/float64 raise an InputError naming the supported
    ones (torch would reach a raw NotImplementedError, or a silent mix of dtypes, later)."""

    def to(self, *args, **kwargs):
        from . import checks
        dtype = torch._C._nn._parse_to(*args, **kwargs)[1]  # the dtype nn.Module.to would apply
        if dtype is not None:
            checks.dtype(dtype)
        return super().to(*args, **kwargs)

    def half(self):
        from . import checks
        checks.dtype(torch.float16)
        return super().half()  # pragma: no cover - refused above

    def bfloat16(self):
        from . import checks
        checks.dtype(torch.bfloat16)
        return super().bfloat16()  # pragma: no cover - refused above
