"""Layers written so that forward-mode products stay on torch's C++ kernels (cold start).

Under ``vmap(jvp(...))`` an ``nn.Linear`` with a bias, ``x + const`` and ``x * const`` run a
Python decomposition whose first call imports ``torch._dynamo`` (about 2 s of a fresh
process's first metric); a convolution with a bias, ``leaky_relu``, ``tanh``, ``clamp`` and
``rms_norm`` do not (measured with torch 2.14, see README "Performance"). So a linear layer
runs as a 1x1 convolution, PGGAN's pixel norm as ``rms_norm`` over the channels, and a
constant gain (equalized learning rate) multiplies the weight and bias, never the activations.
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
        weight, bias = _scaled(self)
        return F.conv2d(x[:, :, None, None], weight[:, :, None, None], bias).flatten(1)


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
