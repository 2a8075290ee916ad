"""Layers that fold their constants once, and ops that keep constants out of forward-mode tangents.

Two concerns of re-implemented research generators, shared by the StyleGAN (1) and BigBiGAN
families:

- **Folding.** Their layers rescale their stored weights on every call (equalised learning
  rate: ``weight_orig * sqrt(2 / fan_in)``; spectral normalisation: one power iteration and a
  division). Neither depends on the code, so a :class:`Folded` layer computes the effective
  tensors once, and again only when one of its own parameters or buffers changes (a new state
  dict, ``.to()``, ``.double()``: the fold is done in the tensors' own dtype and device, so a
  float64 model folds in float64). The state dict keeps the checkpoint's raw tensors.
- **Tangent-safe ops.** Under ``vmap(jvp(...))`` an elementwise op between a tangent and a
  constant (``x + c``, ``x * c``, a linear layer's bias) runs a Python decomposition whose first
  call imports ``torch._dynamo`` (about 2 s of a fresh process's first metric); a convolution's
  bias does not. :func:`linear` and :func:`add_constant` compute the same values through ops
  that have native rules.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Folded(nn.Module):
    """A layer whose forward pass uses tensors derived from its own parameters and buffers.

    Subclasses implement :meth:`fold` (returning any tuple of tensors); :meth:`folded` returns
    its cached value, recomputed (without gradients) when one of the module's own tensors was
    replaced, moved, cast or modified in place.
    """

    _fold_stamp = None
    _fold_value = None

    def fold(self) -> tuple:
        raise NotImplementedError

    def folded(self) -> tuple:
        """The folded tensors for the module's current parameters and buffers."""
        own = [*self.parameters(recurse=False), *self.buffers(recurse=False)]
        stamp = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in own)
        if stamp != self._fold_stamp:
            with torch.no_grad():
                self._fold_value = self.fold()
            self._fold_stamp = stamp
        return self._fold_value


def fold_all(module: nn.Module) -> None:
    """Fold every :class:`Folded` layer of ``module`` now (at load), not on its first call."""
    for m in module.modules():
        if isinstance(m, Folded):
            m.folded()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for x (B, in), computed as a 1x1 convolution (bias included).

    The same values as a linear layer, but without the Python decomposition that a linear
    layer's bias runs under ``vmap(jvp(...))``.

    Returns:
        (B, out).
    """
    if bias is None:
        return F.linear(x, weight)
    return F.conv2d(x[:, :, None, None], weight[:, :, None, None], bias).flatten(1)


def add_constant(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``x + c`` for a constant ``c`` that broadcasts to x's shape (the same rounding: one addition).

    Written as a sum over a stacked pair, which has native forward-mode and vmap rules.
    """
    return torch.stack([x, c.expand_as(x)]).sum(0)


def truncate(w: torch.Tensor, centre: torch.Tensor | None, psi: float, *, centre_name: str) -> torch.Tensor:
    """The truncation trick: ``centre + psi (w - centre)`` (psi = 1: w itself), as ``torch.lerp``.

    Args:
        w: (B, D) codes; centre: (D,) or None; psi: the truncation; centre_name: what the
            model calls the centre, for the message.

    Raises:
        InputError: psi != 1 and the model has no centre.
    """
    if psi == 1.0:
        return w
    if centre is None:
        from ..errors import InputError
        raise InputError(f"truncation needs {centre_name}; load the model with truncation != 1")
    return torch.lerp(centre.to(device=w.device, dtype=w.dtype), w, psi)


def channel_affine(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``x * scale + shift`` per channel for x (B, C, H, W), scale and shift (C,): a depthwise 1x1 convolution."""
    C = x.shape[1]
    return F.conv2d(x, scale.reshape(C, 1, 1, 1), shift, groups=C)
