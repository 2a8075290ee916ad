"""The operations of NVIDIA's StyleGAN2-ADA and StyleGAN3 networks in plain PyTorch, written for ``torch.func``.

NVIDIA's custom CUDA ops (``bias_act``, ``upfirdn2d``, ``filtered_lrelu``) are replaced by
ordinary convolutions (their reference paths define the function; read, not copied).

**Cold start.** Under ``vmap(jvp(...))`` an elementwise operation between a tangent and a
constant (``x + b``, ``x * 2``, ``x * buffer``, ``F.linear`` with a bias, ``torch.addcmul``
with a constant) runs a Python decomposition whose first call imports ``torch._dynamo``
(about 2 s); a matrix product, a convolution (with or without bias), ``torch.lerp`` with a
constant end point, a product of two tangent-carrying tensors, ``torch.cat`` and the
activations do not (measured in fresh processes, torch 2.14). So every constant here is
applied through one of those:

- an affine map ``x W^T + b`` is a 1x1 convolution with bias (:func:`affine`);
- ``mean(x^2) + eps`` is a 1x1 convolution with bias (:func:`mean_square`);
- gains are folded into the weights that precede them (positive gains commute with leaky
  ReLU and clamping);
- adding a constant map ``k`` (noise and bias) is ``torch.lerp(2 k, 2 y, 1/2) = y + k``, with
  the factor 2 folded into the convolution that makes ``y`` (:func:`add_to_doubled`);
- a constant input modulated by a style, ``c * s``, is a depthwise transposed convolution
  of the style (a 1x1 image) with ``c`` as kernel (:func:`modulate_constant`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: NVIDIA's activations whose gain commutes with them (``act(g x) = g act(x)`` for g > 0): name -> default gain
ACTIVATIONS = {"linear": 1.0, "relu": math.sqrt(2), "lrelu": math.sqrt(2)}


def activate(x: torch.Tensor, activation: str, slope: float = 0.2) -> torch.Tensor:
    """NVIDIA's ``linear``, ``relu`` or ``lrelu`` (negative slope ``slope``), without gain."""
    if activation == "lrelu":
        return F.leaky_relu(x, slope)
    if activation == "relu":
        return F.relu(x)
    return x


def affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T + bias`` for x (B, in), weight (out, in), bias (out,) or None -> (B, out).

    A 1x1 convolution with bias: the same map, and no decomposition under ``vmap(jvp)``.
    """
    return F.conv2d(x[:, :, None, None], weight[:, :, None, None], bias)[:, :, 0, 0]


def mean_square(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``mean(x^2, dim=1, keepdim=True) + eps`` for x (B, n) -> (B, 1), as one 1x1 convolution with bias."""
    n = x.shape[1]
    weight = torch.full((1, n, 1, 1), 1.0 / n, device=x.device, dtype=x.dtype)
    bias = torch.full((1,), eps, device=x.device, dtype=x.dtype)
    return F.conv2d(x.square()[:, :, None, None], weight, bias)[:, :, 0, 0]


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """NVIDIA's ``x * rsqrt(mean(x^2) + eps)`` over dim 1 of x (B, n)."""
    return x * mean_square(x, eps).rsqrt()


def demodulation(styles: torch.Tensor, weight: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Demodulation ``rsqrt(sum_{i,k} (weight[o, i, k] styles[b, i])^2 + eps)``.

    Args:
        styles: (B, in); weight: (out, in, kh, kw); eps: NVIDIA's 1e-8.

    Returns:
        (B, out).
    """
    squares = weight.square().sum((2, 3))  # (out, in)
    bias = torch.full((weight.shape[0],), eps, device=styles.device, dtype=styles.dtype)
    return affine(styles.square(), squares, bias).rsqrt()


def add_to_doubled(doubled: torch.Tensor, constant: torch.Tensor) -> torch.Tensor:
    """``doubled / 2 + constant``: ``torch.lerp(2 constant, doubled, 0.5)`` (the caller makes ``doubled`` = 2 y).

    ``y + constant`` under ``vmap(jvp)`` runs a decomposition; ``lerp`` from a constant start does not.
    """
    return torch.lerp(2 * constant, doubled, 0.5)


def modulate_constant(constant: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """``constant[None] * styles[:, :, None, None]`` for a constant (C, H, W) and styles (B, C) -> (B, C, H, W).

    A depthwise transposed convolution of the styles (a 1x1 image) with the constant as kernel.
    """
    C = constant.shape[0]
    return F.conv_transpose2d(styles[:, :, None, None], constant[:, None].to(styles.dtype), groups=C)


def _parse_padding(padding) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    return tuple(int(p) for p in padding)


def _transposed_crop(lo: int, hi: int, up: int) -> tuple[int, int, int, int]:
    """How to place a transposed convolution's output: (padding, output_padding, pad before, pad after).

    ``lo``/``hi`` samples are to be added (> 0, zeros) or removed (< 0) at the start/end of the
    full output. The convolution's own ``padding`` removes samples at both ends without
    computing them, and its ``output_padding`` (< up) gives back some at the end; what is
    left is padded or cropped after.
    """
    crop = max(0, min(-lo, -hi + up - 1))
    out_pad = min(max(0, crop + hi), up - 1)
    return crop, out_pad, lo + crop, hi + crop - out_pad


def _fir_2d(x, f, up, down, pads):
    """One upfirdn pass with a 2-D filter (kh, kw); pads = (x0, x1, y0, y1) with respect to the upsampled image."""
    C = x.shape[1]
    kh, kw = f.shape
    px0, px1, py0, py1 = pads
    if up > 1:
        # zero insertion, padding and a true convolution are a transposed convolution, cropped or
        # padded: output sample i is sample i + k - 1 - p0 of the full convolution
        cx, ox, ax0, ax1 = _transposed_crop(px0 - kw + 1, up + px1 - kw, up)
        cy, oy, ay0, ay1 = _transposed_crop(py0 - kh + 1, up + py1 - kh, up)
        y = F.conv_transpose2d(x, f[None, None].expand(C, 1, kh, kw), stride=up, groups=C, padding=(cy, cx),
                               output_padding=(oy, ox))
        if ax0 or ax1 or ay0 or ay1:
            y = F.pad(y, [ax0, ax1, ay0, ay1])
        return y[:, :, ::down, ::down] if down > 1 else y
    if px0 or px1 or py0 or py1:
        x = F.pad(x, [px0, px1, py0, py1])
    return F.conv2d(x, torch.flip(f, [0, 1])[None, None].expand(C, 1, kh, kw), stride=down, groups=C)


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, *, up: int = 1, down: int = 1, padding=0,
              gain: float = 1.0) -> torch.Tensor:
    """NVIDIA's ``upfirdn2d``: upsample by zero insertion, pad, convolve with a FIR filter, downsample.

    For each channel: insert ``up - 1`` zeros after each sample, pad (negative values crop),
    convolve with ``f`` (a true convolution) keeping the samples whose footprint lies inside,
    and keep every ``down``-th sample. A filter of shape (k,) is separable (applied along
    width then height, each with gain ``sqrt(gain)``); (kh, kw) is a full 2-D filter.

    Args:
        x: (B, C, H, W).
        f: the filter in x's device and dtype, or None (identity).
        up, down: integer factors.
        padding: int, [x, y] or [x0, x1, y0, y1], with respect to the upsampled image.
        gain: overall scale of the signal (``up**2`` keeps the magnitude when upsampling).

    Returns:
        (B, C, (H up + y0 + y1 - kh + 1) / down, (W up + x0 + x1 - kw + 1) / down), rounded up.
    """
    pads = _parse_padding(padding)
    if f is None:
        f = torch.ones((1, 1), device=x.device, dtype=x.dtype)
    f = f.to(device=x.device, dtype=x.dtype)
    if f.dim() == 2:
        return _fir_2d(x, f * gain, up, down, pads)
    f = f * gain ** 0.5
    x = _fir_axis(x, f, up, down, pads[0], pads[1], axis=3)  # width: a (1, k) filter
    return _fir_axis(x, f, up, down, pads[2], pads[3], axis=2)  # then height: (k, 1)


def _fir_axis(x, f, up, down, p0, p1, *, axis: int):
    """One separable pass of :func:`upfirdn2d` along ``axis`` (3: width, 2: height)."""
    C, k = x.shape[1], f.shape[0]
    shape = (C, 1, 1, k) if axis == 3 else (C, 1, k, 1)
    along = (lambda a, b: (b, a)) if axis == 3 else (lambda a, b: (a, b))  # (height, width) pairs
    if up > 1:
        crop, out_pad, a0, a1 = _transposed_crop(p0 - k + 1, up + p1 - k, up)
        y = F.conv_transpose2d(x, f.reshape(shape[1:]).expand(shape), stride=along(up, 1), groups=C,
                               padding=along(crop, 0), output_padding=along(out_pad, 0))
        if a0 or a1:
            y = F.pad(y, [a0, a1, 0, 0] if axis == 3 else [0, 0, a0, a1])
        if down > 1:
            y = y[:, :, :, ::down] if axis == 3 else y[:, :, ::down, :]
        return y
    if p0 or p1:
        x = F.pad(x, [p0, p1, 0, 0] if axis == 3 else [0, 0, p0, p1])
    return F.conv2d(x, torch.flip(f, [0]).reshape(shape[1:]).expand(shape), stride=along(down, 1), groups=C)
