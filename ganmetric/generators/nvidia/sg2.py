"""NVIDIA's StyleGAN2 synthesis network (stylegan2-ada-pytorch and stylegan3's ``networks_stylegan2``) in plain PyTorch.

Module and tensor names are NVIDIA's (``synthesis.b8.conv0.affine.weight``,
``synthesis.b4.const``, ``...noise_const``, ``...resample_filter``), so a network pickle's
state loads strictly. Every block architecture (``skip``, ``resnet``, ``orig``), ``conv_clamp``,
noise modes ``const``/``none``/``random`` and any resample filter are supported; fp16 layers
run in the module's dtype (float32 or float64), and ``fused_modconv`` (grouped convolution
with per-sample weights) is replaced by the same function computed unfused: scale the input by
the style, convolve with the shared weight, multiply by the demodulation coefficients.

Each layer computes NVIDIA's function with the constants placed where ``vmap(jvp)`` runs no
Python decomposition (see :mod:`.ops`): the activation gain (and the factor 2 of
:func:`.ops.add_to_doubled`) is folded into the convolution weight, the noise and bias are one
constant map added with ``lerp``, the affine maps and the demodulation's ``+ 1e-8`` are 1x1
convolutions with bias, and the first block's constant input is modulated by a transposed
convolution.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import ops
from .mapping import FullyConnectedLayer, randn


def setup_filter(taps, device="cpu") -> torch.Tensor:
    """NVIDIA's ``upfirdn2d.setup_filter`` for a resample filter: 1-D taps -> the normalised 2-D outer product
    (separable 1-D when it has 8 taps or more), float32."""
    f = torch.as_tensor(taps, dtype=torch.float32, device=device)
    f = f[None] if f.dim() == 0 else f
    if f.dim() == 1 and f.numel() < 8:
        f = torch.outer(f, f)
    return f / f.sum()


def _filter_size(f: torch.Tensor) -> tuple[int, int]:
    return int(f.shape[-1]), int(f.shape[0])


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, *, up: int = 1, padding: int = 0,
                    flip_weight: bool = True) -> torch.Tensor:
    """NVIDIA's ``conv2d_resample`` without downsampling: x (B, in, H, W), w (out, in, k, k) -> (B, out, H up, W up).

    ``up > 1``: a stride-``up`` transposed convolution (a 1x1 kernel: convolve first), then the
    FIR filter ``f`` with gain ``up**2``; ``up == 1``: a plain correlation (``flip_weight``) with
    padding.
    """
    kh, kw = w.shape[2], w.shape[3]
    if up == 1:
        return F.conv2d(x, w if flip_weight else w.flip([2, 3]), padding=padding)
    fw, fh = _filter_size(f)
    px0, px1 = padding + (fw + up - 1) // 2, padding + (fw - up) // 2
    py0, py1 = padding + (fh + up - 1) // 2, padding + (fh - up) // 2
    if kw == 1 and kh == 1:
        x = F.conv2d(x, w if flip_weight else w.flip([2, 3]))
        return ops.upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2)
    px0, px1, py0, py1 = px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)
    pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
    wt = w.transpose(0, 1)
    x = F.conv_transpose2d(x, wt.flip([2, 3]) if flip_weight else wt, stride=up, padding=[pyt, pxt])
    return ops.upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2)


class SynthesisLayer(nn.Module):
    """A modulated 3x3 convolution (optionally 2x up), noise, bias, leaky ReLU, clamp.

    ``y = clamp(lrelu(g (demod * conv(x * s, W) + noise * strength + b)), c)`` with
    ``s = affine(w)``, ``g = sqrt(2) * gain`` and ``c = conv_clamp * gain``.

    Parameters and buffers: ``affine``, ``weight`` (out, in, k, k), ``noise_const`` (res, res)
    and ``noise_strength`` (when ``use_noise``), ``bias`` (out,), ``resample_filter``.
    """

    ATTRIBUTES = ("resolution", "up", "use_noise", "activation", "conv_clamp", "padding", "act_gain")

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, generator: torch.Generator | None = None):
        super().__init__()
        self.resolution, self.up, self.use_noise = int(resolution), int(up), bool(use_noise)
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ops.ACTIVATIONS[activation]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1, generator=generator)
        self.weight = nn.Parameter(randn((out_channels, in_channels, kernel_size, kernel_size), generator))
        if use_noise:
            self.register_buffer("noise_const", randn((resolution, resolution), generator))
            self.noise_strength = nn.Parameter(torch.zeros((), device="cpu"))
        self.bias = nn.Parameter(torch.zeros(out_channels, device="cpu"))

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, noise_mode: str = "const", gain: float = 1.0,
                constant_input: bool = False) -> torch.Tensor:
        """x (B, in, res/up, res/up) (or the constant (in, res, res) with ``constant_input``), w (B, w_dim)."""
        styles = self.affine(w)
        x = ops.modulate_constant(x, styles) if constant_input else x * styles[:, :, None, None]
        g = self.act_gain * gain
        weight = self.weight.to(styles.dtype)
        y = conv2d_resample(x, weight * (2 * g), self.resample_filter.to(styles.dtype), up=self.up,
                            padding=self.padding, flip_weight=self.up == 1)
        y = y * ops.demodulation(styles, weight)[:, :, None, None]
        constant = self.bias.to(y.dtype)[:, None, None]
        if self.use_noise and noise_mode == "const":
            constant = constant + self.noise_const.to(y.dtype) * self.noise_strength.to(y.dtype)
        elif self.use_noise and noise_mode == "random":
            noise = torch.randn((y.shape[0], 1, self.resolution, self.resolution), device=y.device, dtype=y.dtype)
            constant = constant + noise * self.noise_strength.to(y.dtype)
        y = ops.activate(ops.add_to_doubled(y, constant * g), self.activation)
        return y if self.conv_clamp is None else y.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)


class ToRGBLayer(nn.Module):
    """A modulated 1x1 convolution to RGB (no demodulation), bias, clamp.

    ``y = clamp(conv(x * s / sqrt(in k^2), W) + b, conv_clamp)``, ``s = affine(w)``.
    """

    ATTRIBUTES = ("conv_clamp", "weight_gain")

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None, generator: torch.Generator | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1, generator=generator)
        self.weight = nn.Parameter(randn((out_channels, in_channels, kernel_size, kernel_size), generator))
        self.bias = nn.Parameter(torch.zeros(out_channels, device="cpu"))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)  # NVIDIA scales the styles by weight_gain: the same as scaling the weight
        y = F.conv2d(x * styles[:, :, None, None], self.weight.to(styles.dtype) * self.weight_gain,
                     self.bias.to(styles.dtype))
        return y if self.conv_clamp is None else y.clamp(-self.conv_clamp, self.conv_clamp)


class Conv2dLayer(nn.Module):
    """The resnet architecture's skip connection: a (1x1, 2x up) convolution with NVIDIA's weight gain, no bias."""

    ATTRIBUTES = ("activation", "up", "down", "conv_clamp", "padding", "weight_gain", "act_gain")

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True,
                 activation: str = "linear", up: int = 1, resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, generator: torch.Generator | None = None):
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, int(up), 1, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = ops.ACTIVATIONS[activation]
        self.weight = nn.Parameter(randn((out_channels, in_channels, kernel_size, kernel_size), generator))
        self.bias = nn.Parameter(torch.zeros(out_channels, device="cpu")) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        g = self.act_gain * gain
        doubled = self.bias is not None  # adding a bias takes the lerp form (NVIDIA's skip layers have none)
        weight = self.weight.to(x.dtype) * (self.weight_gain * g * (2 if doubled else 1))
        y = conv2d_resample(x, weight, self.resample_filter.to(x.dtype), up=self.up, padding=self.padding,
                            flip_weight=self.up == 1)
        if doubled:
            y = ops.add_to_doubled(y, (self.bias.to(y.dtype) * g)[:, None, None])
        y = ops.activate(y, self.activation)
        return y if self.conv_clamp is None else y.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)


class SynthesisBlock(nn.Module):
    """One resolution: (2x up) conv0, conv1, toRGB, and the skip/resnet/orig wiring.

    Parameters: ``const`` (first block), ``conv0``, ``conv1``, ``torgb``, ``skip`` (resnet), ``resample_filter``.
    """

    ATTRIBUTES = ("in_channels", "w_dim", "resolution", "img_channels", "is_last", "architecture", "num_conv",
                  "num_torgb")

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, generator: torch.Generator | None = None, **layer_kwargs):
        super().__init__()
        self.in_channels, self.w_dim, self.resolution = int(in_channels), int(w_dim), int(resolution)
        self.img_channels, self.is_last, self.architecture = int(img_channels), bool(is_last), architecture
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = self.num_torgb = 0
        common = dict(w_dim=w_dim, resolution=resolution, resample_filter=resample_filter, conv_clamp=conv_clamp,
                      generator=generator, **layer_kwargs)
        if in_channels == 0:
            self.const = nn.Parameter(randn((out_channels, resolution, resolution), generator))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, **common)
            self.num_conv += 1
        # NVIDIA's conv1 keeps its default filter (it does not resample, but the buffer is in the state)
        self.conv1 = SynthesisLayer(out_channels, out_channels, **{**common, "resample_filter": (1, 3, 3, 1)})
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp, generator=generator)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, 1, bias=False, up=2, resample_filter=resample_filter,
                                    generator=generator)

    def forward(self, x, img, ws: torch.Tensor, *, noise_mode: str = "const"):
        """x (B, in, r/2, r/2) or None, img (B, C, r/2, r/2) or None, ws (B, num_conv + num_torgb, w_dim)."""
        if self.in_channels == 0:
            x = self.conv1(self.const.to(ws.dtype), ws[:, 0], noise_mode=noise_mode, constant_input=True)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, ws[:, 0], noise_mode=noise_mode)
            x = y + self.conv1(x, ws[:, 1], noise_mode=noise_mode, gain=math.sqrt(0.5))
        else:
            x = self.conv1(self.conv0(x, ws[:, 0], noise_mode=noise_mode), ws[:, 1], noise_mode=noise_mode)
        if img is not None:
            f = self.resample_filter.to(img.dtype)
            fw, fh = _filter_size(f)
            img = ops.upfirdn2d(img, f, up=2, padding=[(fw + 1) // 2, (fw - 2) // 2, (fh + 1) // 2, (fh - 2) // 2],
                                gain=4)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, ws[:, self.num_conv])
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """Per-layer styles (B, num_ws, w_dim) -> images (B, img_channels, res, res): blocks ``b4`` ... ``b{res}``.

    Args:
        w_dim, img_resolution, img_channels: sizes.
        channel_base, channel_max: ``channels(res) = min(channel_base // res, channel_max)``.
        **block_kwargs: ``architecture``, ``resample_filter``, ``conv_clamp``, ``kernel_size``,
            ``use_noise``, ``activation`` (fp16 and memory-format options have no effect here).
    """

    ATTRIBUTES = ("w_dim", "img_resolution", "img_channels", "block_resolutions", "num_ws")

    def __init__(self, *, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, generator: torch.Generator | None = None, **block_kwargs):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = int(w_dim), int(img_resolution), int(img_channels)
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim=w_dim, resolution=res,
                                   img_channels=img_channels, is_last=res == img_resolution, generator=generator,
                                   **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if res == img_resolution else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", **_) -> torch.Tensor:
        x = img = None
        start = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws[:, start:start + block.num_conv + block.num_torgb], noise_mode=noise_mode)
            start += block.num_conv
        return img
