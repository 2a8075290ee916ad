"""Where a module lives: one helper for its device and floating dtype, and the device and dtype agreement checks.

Every place that needs to put a tensor next to a generator or distance asks here, so that a
module without parameters, one with only buffers, and a user's plain callable are handled
the same way everywhere. The generator, the distance and the codes share one device: a
distance on another device than the generator, or codes held on another accelerator, are
refused in one line before any work (codes on the CPU, numpy arrays included, are moved to the
generator's device: that is where code files are read).
"""
from __future__ import annotations

import numpy as np
import torch

from .errors import InputError


def as_numpy(x, dtype=None) -> np.ndarray:
    """A numpy array of a tensor on any device (copied to the CPU) or of anything ``np.asarray`` takes.

    Every conversion of a result's tensors to numpy goes through here: ``np.asarray`` of a CUDA
    tensor raises.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def cpu_tensor(x) -> torch.Tensor:
    """A CPU tensor of a tensor on any device (detached) or of an array, keeping its dtype.

    Never ``torch.as_tensor(x)``: under ``torch.set_default_device`` it puts arrays, and even
    CPU tensors, on the default device.
    """
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    return torch.from_numpy(np.array(x))


def cpu_float64(x) -> torch.Tensor:
    """A float64 CPU tensor of a tensor on any device or an array (never on torch's default device)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(device="cpu", dtype=torch.float64)
    return torch.from_numpy(np.array(x, dtype=np.float64))


def module_dtype(module) -> torch.dtype | None:
    """The dtype of a module's first floating parameter or buffer (None if it has none)."""
    for source in (getattr(module, "parameters", None), getattr(module, "buffers", None)):
        if source is None:
            continue
        for t in source():
            if t.is_floating_point():
                return t.dtype
    return None


def tensor_device(module) -> torch.device | None:
    """The device of a module's first parameter or buffer (None if it has none: a plain callable)."""
    for source in (getattr(module, "parameters", None), getattr(module, "buffers", None)):
        if source is None:
            continue
        for t in source():
            return t.device
    return None


def module_device(module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU if it has none)."""
    return tensor_device(module) or torch.device("cpu")


def placement(module) -> dict:
    """``{"device": ..., "dtype": ...}`` of a module, ready for ``tensor.to(**placement(G))``.

    A module with no floating tensors gets torch's default dtype.
    """
    return {"device": module_device(module), "dtype": module_dtype(module) or torch.get_default_dtype()}


def check_same_device(G, D) -> torch.device:
    """The generator's device, after checking that the distance (if it has tensors) is on it.

    Raises:
        InputError: the two were loaded on different devices (naming both).
    """
    g = module_device(G)
    d = tensor_device(D) if D is not None else None
    if d is not None and not _same_device(d, g):
        raise InputError(f"the distance is on {d} but the generator is on {g}; load both on the same device",
                         argument="device")
    return g


def check_codes_device(z, G, *, name: str = "z") -> None:
    """Refuse codes held on another accelerator than the generator (CPU tensors and arrays are moved to it).

    Raises:
        InputError: ``z`` is a tensor on a non-CPU device other than the generator's (naming both).
    """
    if not isinstance(z, torch.Tensor) or z.device.type == "cpu":
        return
    g = module_device(G)
    if not _same_device(z.device, g):
        raise InputError(f"{name} is on {z.device} but the generator is on {g}; put the codes on the generator's "
                         f"device (or on the CPU)", argument=name)


def _same_device(a: torch.device, b: torch.device) -> bool:
    """``cuda`` and ``cuda:0`` are the same device when 0 is the current one."""
    if a.type != b.type:
        return False
    if a.index is None or b.index is None:
        current = torch.cuda.current_device() if a.type == "cuda" and torch.cuda.is_available() else 0
        return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)
    return a.index == b.index


def check_same_dtype(G, D) -> torch.dtype:
    """The generator's dtype, after checking that the distance (if it has tensors) is on the generator's
    device (:func:`check_same_device`) and uses the same dtype.

    Raises:
        InputError: the two were loaded on different devices or with different dtypes.
    """
    check_same_device(G, D)
    g = module_dtype(G) or torch.get_default_dtype()
    d = module_dtype(D) if D is not None else None
    if d is not None and d != g:
        name = lambda t: str(t).replace("torch.", "")  # noqa: E731
        raise InputError(f"the distance is {name(d)} but the generator is {name(g)}; load both with the same dtype",
                         argument="dtype")
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
