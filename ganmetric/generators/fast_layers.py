"""Layers written so that forward-mode products stay on torch's C++ kernels (cold start).

Under ``vmap(jvp(...))`` an ``nn.Linear`` with a bias, ``x + const`` and ``x * const`` run a
Python decomposition whose first call imports ``torch._dynamo`` (about 2 s of a fresh
process's first metric); a convolution with a bias, ``leaky_relu``, ``tanh``, ``clamp`` and
``rms_norm`` do not (measured with torch 2.14, see README "Performance"). So a linear layer
runs as a 1x1 convolution, PGGAN's pixel norm as ``rms_norm`` over the channels, and the
families fold every constant gain into their weights when they load them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvLinear(nn.Linear):
    """``nn.Linear`` (same parameters, same state dict, same ``isinstance``) computed as a 1x1 convolution.

    ``forward(x)`` with x of shape (B, in_features) returns (B, out_features), exactly
    ``x @ weight.T + bias`` up to float rounding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x[:, :, None, None], self.weight[:, :, None, None], self.bias)
        return y.flatten(1)


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
