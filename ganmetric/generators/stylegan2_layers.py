"""StyleGAN2 generator network in plain PyTorch, with rosinality ``stylegan2-pytorch`` module names.

Written from the architecture's description (Karras et al., CVPR 2020) so that the state
dict keys and semantics of rosinality's ``Generator`` (the ``g_ema`` entry of its
checkpoints) match one to one: ``style.{1..n_mlp}`` (mapping MLP), ``input.input``,
``conv1``, ``to_rgb1``, ``convs.{i}``, ``to_rgbs.{i}``, ``noises.noise_{k}``. No custom
CUDA ops: the fused bias + leaky ReLU is ``leaky_relu(x + b) * sqrt(2)`` and the FIR
up-sampling (``upfirdn2d``) is zero insertion, padding and a depthwise ``conv2d``.

The modulated convolution uses the unfused form (scale the input by the style, convolve
with the shared weight, multiply by the demodulation coefficients), which is the same
function as the grouped-conv form but batches many codes into one ordinary convolution,
and has no data-dependent control flow, so ``torch.func`` transforms (jvp, vjp, vmap)
apply and rows of a batch stay independent.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, negative_slope: float = 0.2,
                     scale: float = math.sqrt(2)) -> torch.Tensor:
    """``leaky_relu(x + bias, 0.2) * sqrt(2)`` with ``bias`` (C,) added along dim 1."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * scale


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, *, up: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, and filter with a 2-D FIR kernel (true convolution).

    Args:
        x: (B, C, H, W).
        kernel: (kh, kw) filter (flipped, as a convolution, not a correlation).
        up: integer up-sampling factor (``up - 1`` zeros after each sample).
        pad: (before, after) zero padding on both spatial axes, non-negative.

    Returns:
        (B, C, H * up + p0 + p1 - kh + 1, W * up + p0 + p1 - kw + 1).
    """
    B, C, H, W = x.shape
    if up > 1:
        x = F.pad(x.reshape(B, C, H, 1, W, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(B, C, H * up, W * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    kh, kw = kernel.shape
    w = torch.flip(kernel, [0, 1]).to(x.dtype).view(1, 1, kh, kw).expand(C, 1, kh, kw)
    return F.conv2d(x, w, groups=C)


def make_kernel(k, factor: int = 1) -> torch.Tensor:
    """2-D FIR kernel from 1-D taps (outer product), normalised to sum ``factor ** 2``."""
    k = torch.as_tensor(k, dtype=torch.float32, device="cpu")
    if k.dim() == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum() * factor ** 2


class PixelNorm(nn.Module):
    """``x / sqrt(mean(x^2) + 1e-8)`` over the features of each row."""

    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: ``W * lr_mul / sqrt(in)``, bias ``b * lr_mul``.

    ``activation=True`` applies the fused bias + leaky ReLU (the mapping network's layers).
    """

    def __init__(self, in_dim: int, out_dim: int, *, lr_mul: float = 1.0, bias_init: float = 0.0,
                 activation: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim, generator=generator, device="cpu") / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init), device="cpu"))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x):
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class Blur(nn.Module):
    """FIR filter applied after a stride-2 transposed convolution (buffer ``kernel``)."""

    def __init__(self, kernel: torch.Tensor, pad: tuple[int, int]):
        super().__init__()
        self.register_buffer("kernel", kernel)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR up-sampling of the RGB skip branch (buffer ``kernel``, scaled by 4)."""

    def __init__(self, kernel: torch.Tensor, factor: int = 2):
        super().__init__()
        self.register_buffer("kernel", kernel)
        self.factor = factor
        p = kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution (weight ``(1, out, in, k, k)``, ``modulation`` EqualLinear).

    ``y = demod * conv(x * s, W / sqrt(in k^2))`` with ``s = modulation(w)`` per input
    channel and ``demod_o = (sum_{i,kh,kw} (W_o s_i / sqrt(in k^2))^2 + 1e-8)^{-1/2}``.
    ``upsample``: stride-2 transposed convolution followed by the blur.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, *,
                 demodulate: bool = True, upsample: bool = False, blur_kernel=(1, 3, 3, 1),
                 generator: torch.Generator | None = None):
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size,
                                               generator=generator, device="cpu"))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0, generator=generator)
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(make_kernel(blur_kernel, factor), pad=((p + 1) // 2 + factor - 1, p // 2 + 1))

    def forward(self, x, style):
        s = self.modulation(style)  # (B, in)
        weight = self.weight[0] * self.scale  # (out, in, k, k)
        x = x * s[:, :, None, None]
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            demod = torch.rsqrt(s.square() @ weight.square().sum((2, 3)).T + 1e-8)  # (B, out)
            out = out * demod[:, :, None, None]
        return out


class NoiseInjection(nn.Module):
    """``x + weight * noise`` (per-layer scalar ``weight``)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, device="cpu"))

    def forward(self, x, noise):
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    """Bias (``bias``, one per channel) + leaky ReLU(0.2) * sqrt(2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels, device="cpu"))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    """Modulated conv, noise injection, bias + activation (``conv``, ``noise``, ``activate``)."""

    def __init__(self, in_channel, out_channel, kernel_size, style_dim, *, upsample=False, blur_kernel=(1, 3, 3, 1),
                 generator=None):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel, generator=generator)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x, style, noise):
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to RGB, plus the up-sampled skip branch."""

    def __init__(self, in_channel, style_dim, *, img_channels=3, upsample=True, blur_kernel=(1, 3, 3, 1),
                 generator=None):
        super().__init__()
        if upsample:
            self.upsample = Upsample(make_kernel(blur_kernel, 2))
        self.conv = ModulatedConv2d(in_channel, img_channels, 1, style_dim, demodulate=False, generator=generator)
        self.bias = nn.Parameter(torch.zeros(1, img_channels, 1, 1, device="cpu"))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConstantInput(nn.Module):
    """The learned 4x4 input tensor (parameter ``input``), repeated over the batch."""

    def __init__(self, channel: int, size: int = 4, generator=None):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size, generator=generator, device="cpu"))

    def forward(self, batch: int):
        return self.input.expand(batch, -1, -1, -1)


def rosinality_channels(size: int, channel_multiplier: int = 2) -> list[int]:
    """Channel widths at sides 4, 8, ..., ``size`` of rosinality's default StyleGAN2 generator.

    Args:
        size: the output side, a power of 2 from 4 to 2048; channel_multiplier: rosinality's ``channel_multiplier``.
    """
    m = channel_multiplier
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * m, 128: 128 * m, 256: 64 * m, 512: 32 * m,
             1024: 16 * m, 2048: 8 * m}
    return [table[2 ** i] for i in range(2, int(math.log2(size)) + 1)]


class StyleGAN2Network(nn.Module):
    """The generator network: mapping MLP ``style`` and the synthesis layers, rosinality names.

    Args:
        channels: widths at sides 4, 8, ..., size (``len(channels) = log2(size) - 1``).
        style_dim: size of z and w.
        n_mlp: mapping layers.
        lr_mlp: the mapping layers' learning-rate multiplier (not stored in checkpoints;
            rosinality's default 0.01).
        img_channels: output channels (3 for RGB).
        kernel_size: synthesis convolution size (3).
        blur_kernel: 1-D FIR taps of the up-sampling filters.
        seed: seed of the random initialisation (standard normal weights as in rosinality).

    Attributes:
        size, style_dim, n_latent (styles consumed: 2 log2(size) - 2), num_layers (noise inputs).
    """

    def __init__(self, *, channels: list[int], style_dim: int = 512, n_mlp: int = 8, lr_mlp: float = 0.01,
                 img_channels: int = 3, kernel_size: int = 3, blur_kernel=(1, 3, 3, 1), seed: int = 0):
        super().__init__()
        g = torch.Generator(device="cpu").manual_seed(int(seed))  # built on the CPU: the same weights everywhere
        self.size = 4 * 2 ** (len(channels) - 1)
        self.style_dim = style_dim
        self.lr_mlp = float(lr_mlp)
        self.log_size = len(channels) + 1
        self.n_latent = self.log_size * 2 - 2
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True, generator=g) for _ in range(n_mlp)])
        self.input = ConstantInput(channels[0], generator=g)
        self.conv1 = StyledConv(channels[0], channels[0], kernel_size, style_dim, blur_kernel=blur_kernel, generator=g)
        self.to_rgb1 = ToRGB(channels[0], style_dim, img_channels=img_channels, upsample=False, generator=g)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            self.convs.append(StyledConv(c_in, c_out, kernel_size, style_dim, upsample=True, blur_kernel=blur_kernel,
                                         generator=g))
            self.convs.append(StyledConv(c_out, c_out, kernel_size, style_dim, blur_kernel=blur_kernel, generator=g))
            # rosinality's ToRGB always up-samples the skip with the default (1, 3, 3, 1) filter
            self.to_rgbs.append(ToRGB(c_out, style_dim, img_channels=img_channels, generator=g))
        self.noises = nn.Module()
        for k in range(self.num_layers):
            side = 2 ** ((k + 5) // 2)
            self.noises.register_buffer(f"noise_{k}", torch.randn(1, 1, side, side, generator=g, device="cpu"))

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """w = MLP(PixelNorm(z)), (B, style_dim) -> (B, style_dim)."""
        return self.style(z)

    def synthesis(self, styles: torch.Tensor, *, randomize_noise: bool = False) -> torch.Tensor:
        """Images (B, C, size, size) from per-layer styles (B, n_latent, style_dim).

        Args:
            styles: row k feeds layer k (conv1, to_rgb1, then two convs and a to_rgb per side).
            randomize_noise: draw fresh noise images (non-deterministic, like training)
                instead of the stored ``noises.noise_k`` buffers.
        """
        B = styles.shape[0]
        noises = [getattr(self.noises, f"noise_{k}") for k in range(self.num_layers)]
        if randomize_noise:
            noises = [torch.randn(B, 1, n.shape[-2], n.shape[-1], device=styles.device, dtype=styles.dtype)
                      for n in noises]
        out = self.conv1(self.input(B), styles[:, 0], noises[0])
        skip = self.to_rgb1(out, styles[:, 1])
        i = 1
        for k, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * k](out, styles[:, i], noises[2 * k + 1])
            out = self.convs[2 * k + 1](out, styles[:, i + 1], noises[2 * k + 2])
            skip = to_rgb(out, styles[:, i + 2], skip)
            i += 2
        return skip
