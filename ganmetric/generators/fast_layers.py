"""Layers written so that forward-mode products stay on torch's C++ kernels (cold start), and
layers that fold their constants once.

Under ``vmap(jvp(...))`` an ``nn.Linear`` with a bias, ``x + const`` and ``x * const`` run a
Python decomposition whose first call imports ``torch._dynamo`` (about 2 s of a fresh
<<<<<<< HEAD
process's first metric); a convolution with a bias, ``leaky_relu``, ``tanh``, ``clamp``,
``rms_norm``, ``lerp`` and ``stack`` do not (measured with torch 2.14, see README
"Performance"). So a linear layer runs as a 1x1 convolution (:class:`ConvLinear`,
:func:`linear`), PGGAN's pixel norm as ``rms_norm`` over the channels, a constant gain
(equalized learning rate) multiplies the weight and bias, never the activations, a constant
is added as a stacked sum (:func:`add_constant`), a per-channel affine map is a depthwise
convolution (:func:`channel_affine`) and the truncation trick is ``lerp`` (:func:`truncate`).

**Folding.** Research generators rescale their stored weights on every call (equalised
learning rate: ``weight_orig * sqrt(2 / fan_in)``; spectral normalisation: one power iteration
and a division). Neither depends on the code, so a :class:`Folded` layer computes the effective
tensors once (:func:`fold_all` at load), and again only when one of its own parameters or
buffers changes (a new state dict, ``.to()``, ``.double()``: the fold is done in the tensors'
own dtype and device, so a float64 model folds in float64). The state dict keeps the
checkpoint's raw tensors.
=======
process's first metric); a convolution with a bias, ``leaky_relu``, ``tanh``, ``clamp`` and
``rms_norm`` do not (measured with torch 2.14, see docs/performance.md). So a linear layer
runs as a 1x1 convolution, PGGAN's pixel norm as ``rms_norm`` over the channels, and a
constant gain (equalized learning rate) multiplies the weight and bias, never the activations.
>>>>>>> docs-content
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _scaled(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The layer's weight and bias times its ``weight_gain`` (the parameters themselves when it is 1)."""
    g = layer.weight_gain
    if g == 1.0:
        return layer.weight, layer.bias
    return layer.weight * g, None if layer.bias is None else layer.bias * g


class ConvLinear(nn.Linear):
    """``nn.Linear`` (same parameters, same state dict, same ``isinstance``) computed as a 1x1 convolution.

    ``forward(x)`` with x of shape (B, in_features) returns (B, out_features), exactly
    ``gain * (x @ weight.T + bias)`` up to float rounding.

    Args:
        gain: a constant factor of the output (PGGAN's equalized learning rate, ``sqrt(2 / fan_in)``),
            applied to the weight and bias in the layer's dtype; attribute ``weight_gain``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, gain: float = 1.0):
        super().__init__(in_features, out_features, bias=bias)
        self.weight_gain = float(gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, *_scaled(self))


class EqualizedConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose output is multiplied by a constant ``gain`` (attribute ``weight_gain``), computed as
    ``conv(x, gain * weight, gain * bias)``: pytorch_GAN_zoo's ``EqualizedConv2d`` (equalized learning rate)."""

    def __init__(self, *args, gain: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.weight_gain = float(gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, *_scaled(self))


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``x * rsqrt(mean(x^2 over dim 1) + eps)`` (PGGAN's pixel-wise feature normalisation).

    Args:
        x: (B, C) or (B, C, H, W).

    Returns:
        A tensor of x's shape: each position's channel vector scaled to unit root mean square.
    """
    if x.dim() == 2:
        return F.rms_norm(x, (x.shape[1],), eps=eps)
    return F.rms_norm(x.permute(0, 2, 3, 1), (x.shape[1],), eps=eps).permute(0, 3, 1, 2)


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
        raise InputError(f"truncation needs {centre_name}; load the model with truncation != 1", argument="truncation")
    return torch.lerp(centre.to(device=w.device, dtype=w.dtype), w, psi)


def channel_affine(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``x * scale + shift`` per channel for x (B, C, H, W), scale and shift (C,): a depthwise 1x1 convolution."""
    C = x.shape[1]
    return F.conv2d(x, scale.reshape(C, 1, 1, 1), shift, groups=C)
