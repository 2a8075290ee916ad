"""The BigGAN generator of BigGAN-PyTorch (Brock et al. 2019; ajbrock's code, as shipped by
anvoynov/BigGANsAreWatching for BigBiGAN) in plain PyTorch, eval mode, with the module names of
its state dicts.

Written from the architecture's description and checked against the repository's outputs
(reference fixtures), so that the keys and the function match one to one:

- ``shared``: the class embedding (``nn.Embedding``); ``linear``: the first layer, on the first
  chunk of z, reshaped to (C0, 4, 4);
- ``blocks.i.0``: a residual ``GBlock``: ``bn1`` (class-conditional BatchNorm), ReLU, nearest 2x
  up-sampling, ``conv1``, ``bn2``, ReLU, ``conv2``, plus the 1x1 ``conv_sc`` of the up-sampled
  input; ``blocks.i.1`` (where present): self-attention (``theta``, ``phi``, ``g``, ``o``,
  ``gamma``); with hierarchical z, block i's BatchNorms read ``[embedding, z chunk i + 1]``;
- ``output_layer``: BatchNorm (``gain``, ``bias``, stored statistics, eps 1e-5: the code's
  default, not the model's BN eps), ReLU, a 3x3 convolution to RGB, then tanh.

Eval-mode semantics, reproduced exactly:

- **Spectral normalisation** (``weight``, ``u0``, ``sv0``): in eval mode the code runs one power
  iteration from the stored ``u0`` without updating it, ``v = normalize(u0 W)``,
  ``u = normalize(v W^T)`` (``F.normalize`` with the model's SN eps), and divides the weight by
  ``sv = v W^T u^T``. None of it depends on z, so the normalised weight is folded once
  (:class:`~ganmetric.generators.fast_layers.Folded`). ``sv0`` (a training log) is loaded and kept,
  unused, as in the original.
- **BatchNorm** uses the stored statistics ``stored_mean`` / ``stored_var``, never batch
  statistics; the class-conditional gains are ``1 + gain(y)`` and the biases ``bias(y)``
  (spectrally normalised linear maps without a bias).
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from .fast_layers import Folded, channel_affine, linear
from .weights import state_tensor


def spectral_normalised(weight: torch.Tensor, u: torch.Tensor, eps: float) -> torch.Tensor:
    """``weight / sv`` after one power iteration from ``u`` (1, out), as BigGAN-PyTorch's eval mode does."""
    W = weight.reshape(weight.shape[0], -1)
    v = F.normalize(torch.matmul(u, W), eps=eps)
    u_new = F.normalize(torch.matmul(v, W.t()), eps=eps)
    sv = torch.squeeze(torch.matmul(torch.matmul(v, W.t()), u_new.t()))
    return weight / sv


class _SN(Folded):
    """Spectral normalisation state: parameter ``weight``, optional ``bias``, buffers ``u0`` and ``sv0``."""

    def __init__(self, weight_shape: tuple, bias: bool, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(*weight_shape, device="cpu"))
        self.bias = nn.Parameter(torch.zeros(weight_shape[0], device="cpu")) if bias else None
        self.register_buffer("u0", torch.zeros(1, weight_shape[0], device="cpu"))
        self.register_buffer("sv0", torch.ones(1, device="cpu"))
        self.eps = eps

    def fold(self):
        return (spectral_normalised(self.weight, self.u0, self.eps),)


class SNConv2d(_SN):
    """Spectrally normalised convolution (stride 1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1, *,
                 bias: bool = True, eps: float = 1e-4):
        super().__init__((out_channels, in_channels, kernel_size, kernel_size), bias, eps)
        self.padding = padding

    def forward(self, x):
        return F.conv2d(x, self.folded()[0], self.bias, padding=self.padding)


class SNLinear(_SN):
    """Spectrally normalised linear map; without a bias parameter, ``offset`` (a constant) may take its place."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True, eps: float = 1e-4,
                 offset: float | None = None):
        super().__init__((out_features, in_features), bias, eps)
        self.offset = offset

    def fold(self):
        (weight,) = super().fold()
        if self.bias is not None or self.offset is None:
            return weight, self.bias
        return weight, torch.full((weight.shape[0],), self.offset, dtype=weight.dtype, device=weight.device)

    def forward(self, x):
        return linear(x, *self.folded())


class ConditionalBatchNorm(nn.Module):
    """BigGAN-PyTorch's ``ccbn`` in eval mode: ``batch_norm(x; stored stats) * (1 + gain(y)) + bias(y)``.

    The submodule ``gain`` returns the whole gain ``1 + W_gain y`` (its offset 1 folded into the
    1x1 convolution that computes it), so a layer distance on it is the original's.
    """

    def __init__(self, output_size: int, input_size: int, *, eps: float = 1e-4, sn_eps: float = 1e-4):
        super().__init__()
        self.gain = SNLinear(input_size, output_size, bias=False, eps=sn_eps, offset=1.0)
        self.bias = SNLinear(input_size, output_size, bias=False, eps=sn_eps)
        self.register_buffer("stored_mean", torch.zeros(output_size, device="cpu"))
        self.register_buffer("stored_var", torch.ones(output_size, device="cpu"))
        self.eps = eps

    def forward(self, x, y):
        out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, False, 0.1, self.eps)
        return out * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class BatchNorm(Folded):
    """BigGAN-PyTorch's plain ``bn`` in eval mode (``gain``, ``bias``, stored statistics): a per-channel affine."""

    def __init__(self, output_size: int, eps: float = 1e-5):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(output_size, device="cpu"))
        self.bias = nn.Parameter(torch.zeros(output_size, device="cpu"))
        self.register_buffer("stored_mean", torch.zeros(output_size, device="cpu"))
        self.register_buffer("stored_var", torch.ones(output_size, device="cpu"))
        self.eps = eps

    def fold(self):
        scale = self.gain * torch.rsqrt(self.stored_var + self.eps)
        return scale, self.bias - self.stored_mean * scale

    def forward(self, x):
        return channel_affine(x, *self.folded())


class GBlock(nn.Module):
    """Residual up-sampling block: h = conv2(relu(bn2(conv1(up(relu(bn1(x)))))), plus conv_sc(up(x))."""

    def __init__(self, in_channels: int, out_channels: int, cond_size: int, *, bn_eps: float, sn_eps: float):
        super().__init__()
        self.conv1 = SNConv2d(in_channels, out_channels, eps=sn_eps)
        self.conv2 = SNConv2d(out_channels, out_channels, eps=sn_eps)
        self.conv_sc = SNConv2d(in_channels, out_channels, kernel_size=1, padding=0, eps=sn_eps)
        self.bn1 = ConditionalBatchNorm(in_channels, cond_size, eps=bn_eps, sn_eps=sn_eps)
        self.bn2 = ConditionalBatchNorm(out_channels, cond_size, eps=bn_eps, sn_eps=sn_eps)
        self.activation = nn.ReLU()

    def forward(self, x, y):
        h = F.interpolate(self.activation(self.bn1(x, y)), scale_factor=2)
        h = self.conv2(self.activation(self.bn2(self.conv1(h), y)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2))


class Attention(Folded):
    """SA-GAN self-attention as in BigGAN-PyTorch: ``x + gamma * o(g softmax(theta^T phi)^T)``."""

    def __init__(self, ch: int, *, sn_eps: float):
        super().__init__()
        self.ch = ch
        self.theta = SNConv2d(ch, ch // 8, kernel_size=1, padding=0, bias=False, eps=sn_eps)
        self.phi = SNConv2d(ch, ch // 8, kernel_size=1, padding=0, bias=False, eps=sn_eps)
        self.g = SNConv2d(ch, ch // 2, kernel_size=1, padding=0, bias=False, eps=sn_eps)
        self.o = SNConv2d(ch // 2, ch, kernel_size=1, padding=0, bias=False, eps=sn_eps)
        self.gamma = nn.Parameter(torch.zeros((), device="cpu"))

    def fold(self):
        return (self.gamma.reshape(1).expand(self.ch).reshape(self.ch, 1, 1, 1),)  # gamma per channel, as a conv

    def forward(self, x, y=None):
        H, W = x.shape[2], x.shape[3]
        theta = self.theta(x).reshape(-1, self.ch // 8, H * W)
        phi = F.max_pool2d(self.phi(x), [2, 2]).reshape(-1, self.ch // 8, H * W // 4)
        g = F.max_pool2d(self.g(x), [2, 2]).reshape(-1, self.ch // 2, H * W // 4)
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)
        o = self.o(torch.bmm(g, beta.transpose(1, 2)).reshape(-1, self.ch // 2, H, W))
        return x + F.conv2d(o, self.folded()[0], groups=self.ch)  # gamma * o as a depthwise conv: native under jvp


class BigGANPyTorchNetwork(nn.Module):
    """BigGAN-PyTorch's ``Generator`` with hierarchical z and a shared class embedding, in eval mode.

    Args:
        channels: input width of each block, then the output width of the last
            (BigBiGAN: 1536, 1536, 768, 384, 192, 96).
        attention: indices of the blocks followed by self-attention (BigBiGAN: [3], at 64 px).
        z_chunk: size of each of the ``len(blocks) + 1`` chunks of z (BigBiGAN: 20, so dim_z 120).
        shared_dim: class embedding size (128); n_classes: embedding rows (1000).
        bottom_width: side of the first feature map (4).
        bn_eps, sn_eps: the model's BatchNorm and spectral-norm epsilons (BigBiGAN: 1e-4 both).

    Attributes:
        dim_z, z_chunk, resolution.
    """

    def __init__(self, *, channels: list[int], attention: list[int], z_chunk: int = 20, shared_dim: int = 128,
                 n_classes: int = 1000, bottom_width: int = 4, bn_eps: float = 1e-4, sn_eps: float = 1e-4):
        super().__init__()
        n = len(channels) - 1
        self.z_chunk, self.dim_z, self.bottom_width = z_chunk, z_chunk * (n + 1), bottom_width
        self.resolution = bottom_width * 2 ** n
        self.shared = nn.Embedding(n_classes, shared_dim, _weight=torch.zeros(n_classes, shared_dim, device="cpu"))
        self.linear = SNLinear(z_chunk, channels[0] * bottom_width ** 2, eps=sn_eps)
        cond = shared_dim + z_chunk
        self.blocks = nn.ModuleList(
            nn.ModuleList([GBlock(channels[i], channels[i + 1], cond, bn_eps=bn_eps, sn_eps=sn_eps)]
                          + ([Attention(channels[i + 1], sn_eps=sn_eps)] if i in attention else []))
            for i in range(n))
        self.output_layer = nn.Sequential(BatchNorm(channels[-1]), nn.ReLU(), SNConv2d(channels[-1], 3, eps=sn_eps))

    def forward(self, z: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, R, R) in (-1, 1) for z (B, dim_z) and class indices (B,)."""
        zs = torch.split(z, self.z_chunk, 1)
        y = self.shared(classes)
        h = self.linear(zs[0]).reshape(z.shape[0], -1, self.bottom_width, self.bottom_width)
        for blocklist, z_i in zip(self.blocks, zs[1:]):
            y_i = torch.cat([y, z_i], 1)
            for block in blocklist:
                h = block(h, y_i)
        return torch.tanh(self.output_layer(h))


#: BigBiGAN's generator (BigGAN-PyTorch at 128 px as configured by make_big_gan)
BIGBIGAN_ARCHITECTURE = {"channels": [1536, 1536, 768, 384, 192, 96], "attention": [3], "z_chunk": 20,
                         "shared_dim": 128, "n_classes": 1000, "bottom_width": 4}


def infer_architecture(state: dict, *, where: str = "checkpoint") -> dict:
    """Sizes of the generator whose state dict is ``state``, from its keys and shapes.

    Returns:
        keyword arguments of :class:`BigGANPyTorchNetwork` (without the epsilons).

    Raises:
        WeightsError: a key the architecture needs is missing, a shape does not fit, or the
            generator is not hierarchical with a shared embedding (BigBiGAN's kind).
    """
    def get(key, ndim):
        return state_tensor(state, key, ndim, where=where, kind="a BigGAN-PyTorch generator state dict")

    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.0\.", k))})
    if not blocks or blocks != list(range(len(blocks))):
        raise WeightsError(f"{where}: generator blocks blocks.N.0 must be numbered 0..n, found {blocks}")
    n_classes, shared_dim = get("shared.weight", 2).shape
    lin = get("linear.weight", 2)
    channels = [int(get(f"blocks.{i}.0.conv1.weight", 4).shape[1]) for i in blocks]
    channels.append(int(get(f"blocks.{blocks[-1]}.0.conv1.weight", 4).shape[0]))
    cond = int(get("blocks.0.0.bn1.gain.weight", 2).shape[1])
    z_chunk = int(lin.shape[1])
    if cond != shared_dim + z_chunk:
        raise WeightsError(f"{where}: the BatchNorm gains read {cond} inputs, not the class embedding plus one z chunk "
                           f"({shared_dim} + {z_chunk}): only hierarchical-z BigGAN generators (BigBiGAN's kind) load")
    bottom = round((lin.shape[0] / channels[0]) ** 0.5)
    if bottom * bottom * channels[0] != lin.shape[0]:
        raise WeightsError(f"{where}: linear.weight has {lin.shape[0]} outputs, not a square map of {channels[0]} "
                           "channels")
    attention = [i for i in blocks if f"blocks.{i}.1.gamma" in state]
    return {"channels": channels, "attention": attention, "z_chunk": z_chunk, "shared_dim": int(shared_dim),
            "n_classes": int(n_classes), "bottom_width": int(bottom)}


def seeded_random_(net: BigGANPyTorchNetwork, seed: int = 0, *, batch: int = 8) -> BigGANPyTorchNetwork:
    """Fill ``net`` with seeded random weights in place (for tests, benchmarks and demos), and return it.

    Weights N(0, 1) (spectral normalisation makes their scale irrelevant), biases and the
    attention ``gamma`` N(0, 0.1^2) and 0.3, the output BatchNorm's gain 1 + N(0, 0.1^2); each
    ``u0`` after 5 power iterations from a random start; then every BatchNorm's stored statistics
    are set, in forward order, to the statistics of its input over ``batch`` seeded codes (what
    one train-mode batch would store).
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    randn = lambda t: torch.randn(t.shape, generator=gen, device="cpu", dtype=torch.float32).to(t)  # noqa: E731
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.3)
            elif name == "output_layer.0.gain":
                p.copy_(1 + 0.1 * randn(p))
            else:
                p.copy_(0.1 * randn(p) if name.endswith("bias") else randn(p))
        for m in net.modules():
            if isinstance(m, _SN):
                W, u = m.weight.reshape(m.weight.shape[0], -1), F.normalize(randn(m.u0))
                for _ in range(5):
                    u = F.normalize(F.normalize(u @ W) @ W.t())
                m.u0.copy_(u)
        _calibrate_batchnorms_(net, torch.randn(batch, net.dim_z, generator=gen, device="cpu").to(net.linear.weight))
    return net


def _calibrate_batchnorms_(net: BigGANPyTorchNetwork, z: torch.Tensor) -> None:
    """Set each BatchNorm's stored statistics to those of its input for codes z (class 0), in forward order."""
    def hook(module, args):
        x = args[0]
        module.stored_mean.copy_(x.mean((0, 2, 3)))
        module.stored_var.copy_(x.var((0, 2, 3), unbiased=False))

    handles = [m.register_forward_pre_hook(hook) for m in net.modules() if isinstance(m, (ConditionalBatchNorm,
                                                                                            BatchNorm))]
    try:
        net(z, torch.zeros(z.shape[0], dtype=torch.long, device=z.device))
    finally:
        for h in handles:
            h.remove()
