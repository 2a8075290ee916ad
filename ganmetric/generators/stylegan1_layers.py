"""StyleGAN (Karras et al. 2019) generator network in plain PyTorch, with the module names of
rosinality's ``style-based-gan-pytorch`` (``StyledGenerator``, the ``g_running`` entry of its
checkpoints).

Written from the architecture's description and checked against the repository's outputs
(reference fixtures), so that the state-dict keys and the function match one to one:

- ``style``: PixelNorm, then ``n_mlp`` x (EqualLinear, LeakyReLU(0.2)) at indices 1, 3, ...;
- ``generator.progression.i`` (side 4 * 2^i): a ``StyledConvBlock`` of ``conv1`` (the learned
  4x4 ``ConstantInput`` for i = 0; nearest 2x up-sampling, EqualConv2d and Blur; or
  ``FusedUpsample`` and Blur), ``noise1``, ``lrelu1``, ``adain1``, then ``conv2``, ``noise2``,
  ``lrelu2``, ``adain2``; both AdaINs read the block's one style, both noise injections its
  one noise image;
- ``generator.to_rgb.i``: a 1x1 EqualConv2d to RGB, applied after block ``step`` only
  (``alpha = 1``: the fade-in of the previous scale is over).

Equalised learning rate: the effective weight is ``weight_orig * sqrt(2 / fan_in)``, with
``fan_in = weight.size(1) * weight[0][0].numel()`` (so ``in_features`` for linear layers,
``in * k * k`` for convolutions and ``channels`` for the noise weights of shape (1, C, 1, 1)),
folded once (:class:`~ganmetric.generators.fast_layers.Folded`). ``FusedUpsample`` scales its
plain ``weight`` the same way and averages the four 1-pixel shifts of the padded kernel into a
4x4 stride-2 transposed convolution. The ``Blur`` buffers ``weight`` (the normalised
[1, 2, 1] x [1, 2, 1] filter, one per channel) and ``weight_flip`` (its flip, which the
original uses only in its hand-written backward pass) are both loaded; ``weight_flip`` must
equal the flip of ``weight``.

Channel widths, the style size, the number of mapping layers and of blocks, and which blocks
use the fused up-sampling are read from a state dict's shapes and keys
(:func:`infer_architecture`); rosinality's published model is 512-d with 9 blocks
(4 ... 1024 px), fused from 128 px on.
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from .fast_layers import Folded, add_constant, linear
from .weights import state_tensor


def equal_lr_gain(weight: torch.Tensor) -> float:
    """``sqrt(2 / fan_in)`` with rosinality's ``fan_in = weight.size(1) * weight[0][0].numel()``."""
    return math.sqrt(2 / (weight.shape[1] * weight[0][0].numel()))


class _EqualConv(Folded):
    """Convolution with parameters ``weight_orig`` (out, in, k, k) and ``bias`` (out,); weight scaled at fold."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, padding: int = 0):
        super().__init__()
        self.weight_orig = nn.Parameter(torch.zeros(out_channel, in_channel, kernel_size, kernel_size,
                                                    device="cpu"))
        self.bias = nn.Parameter(torch.zeros(out_channel, device="cpu"))
        self.padding = padding

    def fold(self):
        return (self.weight_orig * equal_lr_gain(self.weight_orig),)

    def forward(self, x):
        return F.conv2d(x, self.folded()[0], self.bias, padding=self.padding)


class EqualConv2d(nn.Module):
    """rosinality's ``EqualConv2d``: the convolution is its submodule ``conv`` (``conv.weight_orig``, ``conv.bias``)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, padding: int = 0):
        super().__init__()
        self.conv = _EqualConv(in_channel, out_channel, kernel_size, padding)

    def forward(self, x):
        return self.conv(x)


class _EqualLinearCore(Folded):
    """Linear map with ``weight_orig`` (out, in) and ``bias`` (out,); weight scaled at fold."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.weight_orig = nn.Parameter(torch.zeros(out_dim, in_dim, device="cpu"))
        self.bias = nn.Parameter(torch.zeros(out_dim, device="cpu"))

    def fold(self):
        return (self.weight_orig * equal_lr_gain(self.weight_orig),)

    def forward(self, x, *, plain: bool = False):
        weight = self.folded()[0]
        return F.linear(x, weight, self.bias) if plain else linear(x, weight, self.bias)


class EqualLinear(nn.Module):
    """rosinality's ``EqualLinear``: the submodule ``linear`` (keys ``linear.weight_orig``, ``linear.bias``)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.linear = _EqualLinearCore(in_dim, out_dim)

    def forward(self, x, *, plain: bool = False):
        return self.linear(x, plain=plain)


class FusedUpsample(Folded):
    """Stride-2 transposed convolution whose 4x4 kernel averages the four shifts of the scaled 3x3 ``weight``."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, padding: int = 0):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(in_channel, out_channel, kernel_size, kernel_size, device="cpu"))
        self.bias = nn.Parameter(torch.zeros(out_channel, device="cpu"))
        self.pad = padding

    def fold(self):
        w = self.weight
        w = F.pad(w * math.sqrt(2 / (w.shape[0] * w.shape[2] * w.shape[3])), [1, 1, 1, 1])
        return ((w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]) / 4,)

    def forward(self, x):
        return F.conv_transpose2d(x, self.folded()[0], self.bias, stride=2, padding=self.pad)


class Blur(nn.Module):
    """Depthwise 3x3 blur with the buffers ``weight`` and ``weight_flip`` (C, 1, 3, 3)."""

    def __init__(self, channel: int):
        super().__init__()
        k = torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=torch.float32, device="cpu").view(1, 1, 3, 3)
        k = k / k.sum()
        self.register_buffer("weight", k.repeat(channel, 1, 1, 1))
        self.register_buffer("weight_flip", torch.flip(k, [2, 3]).repeat(channel, 1, 1, 1))

    def forward(self, x):
        return F.conv2d(x, self.weight, padding=1, groups=x.shape[1])


class NoiseInjection(Folded):
    """``x + w * noise`` with per-channel ``weight_orig`` (1, C, 1, 1) and a (1, 1, H, W) noise image."""

    def __init__(self, channel: int):
        super().__init__()
        self.weight_orig = nn.Parameter(torch.zeros(1, channel, 1, 1, device="cpu"))

    def fold(self):
        return (self.weight_orig * equal_lr_gain(self.weight_orig),)

    def forward(self, x, noise):
        return add_constant(x, self.folded()[0] * noise.to(x.dtype))


class AdaptiveInstanceNorm(nn.Module):
    """``gamma * instance_norm(x) + beta`` with ``(gamma, beta) = style(w)`` (``style``: EqualLinear to 2C)."""

    def __init__(self, in_channel: int, style_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(in_channel)
        self.style = EqualLinear(style_dim, in_channel * 2)

    def forward(self, x, style, *, constant_input: bool = False):
        """``constant_input``: x is the same for every row and every code (the first block's), so the
        product with the style's scale is taken as a grouped transposed convolution: the same
        numbers, but no elementwise op between a tangent and a constant under ``vmap(jvp)``."""
        gamma, beta = self.style(style)[:, :, None, None].chunk(2, 1)
        normed = self.norm(x)
        if constant_input:
            return F.conv_transpose2d(gamma, normed[0][:, None], groups=normed.shape[1]) + beta
        return gamma * normed + beta


class ConstantInput(nn.Module):
    """The learned input ``input`` (1, C, 4, 4), repeated over the batch of its argument."""

    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.zeros(1, channel, size, size, device="cpu"))

    def forward(self, x):
        return self.input.expand(x.shape[0], -1, -1, -1)


class StyledConvBlock(nn.Module):
    """One scale: conv1, noise1, lrelu1, adain1, conv2, noise2, lrelu2, adain2 (one style, one noise image)."""

    def __init__(self, in_channel: int, out_channel: int, style_dim: int, *, initial: bool = False,
                 fused: bool = False):
        super().__init__()
        if initial:
            self.conv1 = ConstantInput(in_channel)
        elif fused:
            self.conv1 = nn.Sequential(FusedUpsample(in_channel, out_channel, 3, padding=1), Blur(out_channel))
        else:
            self.conv1 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                       EqualConv2d(in_channel, out_channel, 3, padding=1), Blur(out_channel))
        self.noise1 = NoiseInjection(out_channel)
        self.adain1 = AdaptiveInstanceNorm(out_channel, style_dim)
        self.lrelu1 = nn.LeakyReLU(0.2)
        self.conv2 = EqualConv2d(out_channel, out_channel, 3, padding=1)
        self.noise2 = NoiseInjection(out_channel)
        self.adain2 = AdaptiveInstanceNorm(out_channel, style_dim)
        self.lrelu2 = nn.LeakyReLU(0.2)

    def forward(self, x, style, noise):
        """x: the previous block's features (for the first block, anything with the batch size first)."""
        out = self.adain1(self.lrelu1(self.noise1(self.conv1(x), noise)), style,
                          constant_input=isinstance(self.conv1, ConstantInput))
        return self.adain2(self.lrelu2(self.noise2(self.conv2(out), noise)), style)


class SynthesisNetwork(nn.Module):
    """rosinality's ``Generator``: ``progression`` (StyledConvBlocks) and ``to_rgb`` (1x1 EqualConv2d)."""

    def __init__(self, channels: list[int], style_dim: int, fused: list[bool]):
        super().__init__()
        self.progression = nn.ModuleList(
            [StyledConvBlock(channels[0], channels[0], style_dim, initial=True)]
            + [StyledConvBlock(c_in, c_out, style_dim, fused=f)
               for c_in, c_out, f in zip(channels[:-1], channels[1:], fused[1:])])
        self.to_rgb = nn.ModuleList([EqualConv2d(c, 3, 1) for c in channels])

    def forward(self, styles: torch.Tensor, noises: list[torch.Tensor], step: int) -> torch.Tensor:
        """Images (B, 3, 4 * 2^step, 4 * 2^step) at ``alpha = 1``.

        Args:
            styles: (B, step + 1, style_dim): the style of each block.
            noises: step + 1 noise images, (1, 1, 4 * 2^i, 4 * 2^i) (broadcast over the batch).
            step: the last block run.
        """
        out = styles[:, 0]
        for i in range(step + 1):
            out = self.progression[i](out, styles[:, i], noises[i])
        return self.to_rgb[step](out)


class StyleMapping(nn.Sequential):
    """``style``: PixelNorm (as ``F.rms_norm``, eps 1e-8) then n_mlp x (EqualLinear, LeakyReLU(0.2))."""

    def __init__(self, style_dim: int, n_mlp: int):
        layers = [PixelNorm()]
        for _ in range(n_mlp):
            layers += [EqualLinear(style_dim, style_dim), nn.LeakyReLU(0.2)]
        super().__init__(*layers)

    def forward(self, z, *, plain: bool = False):
        """w (B, style_dim). ``plain``: ordinary linear layers (faster for large no-grad batches)."""
        x = z
        for layer in self:
            x = layer(x, plain=plain) if isinstance(layer, EqualLinear) else layer(x)
        return x


class PixelNorm(nn.Module):
    """``x / sqrt(mean(x^2) + 1e-8)`` over the features of each row."""

    def forward(self, x):
        return F.rms_norm(x, (x.shape[-1],), eps=1e-8)


class StyledGenerator(nn.Module):
    """rosinality's ``StyledGenerator``: ``generator`` (synthesis) and ``style`` (mapping).

    Args:
        channels: widths of the blocks at sides 4, 8, ... (rosinality: 512 x 4, 256, 128, 64, 32, 16).
        style_dim: size of z and w (rosinality: 512).
        n_mlp: mapping layers (8).
        fused: per block, whether it up-samples with ``FusedUpsample`` (rosinality: from 128 px on).

    Attributes:
        style_dim, n_blocks, max_resolution.
    """

    def __init__(self, *, channels: list[int], style_dim: int = 512, n_mlp: int = 8, fused: list[bool] | None = None):
        super().__init__()
        fused = list(fused) if fused is not None else [i >= 5 for i in range(len(channels))]
        self.style_dim, self.n_blocks = style_dim, len(channels)
        self.max_resolution = 4 * 2 ** (len(channels) - 1)
        self.generator = SynthesisNetwork(channels, style_dim, fused)
        self.style = StyleMapping(style_dim, n_mlp)


#: rosinality's published widths at 4, 8, ..., 1024 px, and its blocks with fused up-sampling
ROSINALITY_CHANNELS = [512, 512, 512, 512, 256, 128, 64, 32, 16]


def infer_architecture(state: dict, *, where: str = "checkpoint") -> dict:
    """Sizes of the ``StyledGenerator`` whose state dict is ``state``, from its keys and shapes.

    Returns:
        ``{"channels", "style_dim", "n_mlp", "fused"}`` for :class:`StyledGenerator`.

    Raises:
        WeightsError: a key the architecture needs is missing, or a shape does not fit.
    """
    def get(key, ndim):
        return state_tensor(state, key, ndim, where=where, kind="a StyleGAN (rosinality) generator")

    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"generator\.progression\.(\d+)\.", k))})
    if not blocks or blocks != list(range(len(blocks))):
        raise WeightsError(f"{where}: synthesis blocks generator.progression.N must be numbered 0..n, found {blocks}")
    mlp = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"style\.(\d+)\.linear\.weight_orig", k)))
    if mlp != list(range(1, 2 * len(mlp), 2)):
        raise WeightsError(f"{where}: mapping layers style.N.linear must be numbered 1, 3, 5, ..., found {mlp}")
    channels = [int(get("generator.progression.0.conv1.input", 4).shape[1])]
    fused = [False]
    for i in blocks[1:]:
        prefix = f"generator.progression.{i}.conv1"
        fused.append(f"{prefix}.0.weight" in state)
        w = get(f"{prefix}.0.weight", 4) if fused[-1] else get(f"{prefix}.1.conv.weight_orig", 4)
        channels.append(int(w.shape[1] if fused[-1] else w.shape[0]))
    style_dim = int(get("generator.progression.0.adain1.style.linear.weight_orig", 2).shape[1])
    return {"channels": channels, "style_dim": style_dim, "n_mlp": len(mlp), "fused": fused}


def seeded_random_(net: StyledGenerator, seed: int = 0) -> StyledGenerator:
    """Fill ``net`` with seeded random weights in place (for tests, benchmarks and demos), and return it.

    The native initial distributions (N(0, 1) for every ``weight_orig``, the fused up-samplers'
    ``weight`` and the constant input), with the constants moved off their initial values so
    that every parameter matters: biases N(0, 0.1^2), AdaIN's scale biases 1 + N(0, 0.1^2), noise
    weights N(0, 1). The Blur buffers are left as constructed.
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    with torch.no_grad():
        for name, p in net.named_parameters():
            r = torch.randn(p.shape, generator=gen, device="cpu", dtype=torch.float32).to(p)
            if name.endswith("bias"):
                r = 0.1 * r
                if ".adain" in name:
                    r[: r.shape[0] // 2] += 1
            p.copy_(r)
    return net
