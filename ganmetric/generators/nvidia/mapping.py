"""NVIDIA's fully connected layer and mapping network (StyleGAN2-ADA and StyleGAN3), in plain PyTorch.

Module and tensor names are NVIDIA's (``mapping.fc0.weight``, ``mapping.embed.bias``,
``mapping.w_avg``), so the state of a network pickle loads strictly. The forward passes are
the same functions as NVIDIA's (``training/networks.py`` of stylegan2-ada-pytorch,
``training/networks_stylegan2.py`` and ``networks_stylegan3.py`` of stylegan3; read, not
copied), written with the operations of :mod:`.ops` so that nothing in them runs a Python
decomposition under ``vmap(jvp)``.
"""
from __future__ import annotations

import torch
from torch import nn

from . import ops


def randn(shape, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal draws on the CPU (float32), from ``generator`` (a private seeded RNG)."""
    return torch.randn(*shape, generator=generator, device="cpu")


class FullyConnectedLayer(nn.Module):
    """``act(x (W gain_w)^T + b gain_b) * def_gain``: NVIDIA's equalised-learning-rate linear layer.

    Args:
        in_features, out_features: sizes.
        bias: whether it has a bias.
        activation: "linear", "relu" or "lrelu" (slope 0.2, gain sqrt 2).
        lr_multiplier: ``gain_w = lr_multiplier / sqrt(in_features)``, ``gain_b = lr_multiplier``.
        weight_init, bias_init: NVIDIA's initialisation (random networks only).
        generator: the RNG of a random initialisation.

    Parameters: ``weight`` (out, in), ``bias`` (out,).
    """

    ATTRIBUTES = ("activation", "weight_gain", "bias_gain")

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, weight_init: float = 1.0, bias_init=0.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.activation = activation
        self.weight = nn.Parameter(randn((out_features, in_features), generator) * (weight_init / lr_multiplier))
        init = torch.as_tensor(bias_init, dtype=torch.float32, device="cpu").broadcast_to((out_features,))
        self.bias = nn.Parameter(init / lr_multiplier) if bias else None
        self.weight_gain = lr_multiplier / in_features ** 0.5
        self.bias_gain = lr_multiplier

    def folded(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The weight and bias the forward pass applies, the activation's gain folded in (it commutes with it)."""
        g = ops.ACTIVATIONS[self.activation]
        bias = None if self.bias is None else self.bias * (self.bias_gain * g)
        return self.weight * (self.weight_gain * g), bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in) -> (B, out)."""
        weight, bias = self.folded()
        return ops.activate(ops.affine(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype)),
                            self.activation)


class MappingNetwork(nn.Module):
    """z (and a class label c) -> w, broadcast to ``num_ws`` rows, with truncation around ``w_avg``.

    ``w = MLP(cat(norm(z), norm(embed(c))))`` (``norm`` divides by the root mean square);
    truncation ``psi`` moves the first ``cutoff`` rows (all by default) to
    ``w_avg + psi (w - w_avg)``.

    Args:
        z_dim, c_dim, w_dim, num_ws: sizes (c_dim 0: unconditional).
        num_layers: fully connected layers.
        embed_features, layer_features: sizes of the label embedding and the hidden layers.
        activation: of the layers ("lrelu").
        lr_multiplier: of the layers (0.01).
        has_w_avg: whether the network tracks ``w_avg`` (StyleGAN2-ADA's ``w_avg_beta=None`` has none).
        generator: the RNG of a random initialisation.
    """

    ATTRIBUTES = ("z_dim", "c_dim", "w_dim", "num_ws", "num_layers")

    def __init__(self, *, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int,
                 embed_features: int | None = None, layer_features: int | None = None, activation: str = "lrelu",
                 lr_multiplier: float = 0.01, has_w_avg: bool = True, generator: torch.Generator | None = None):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = int(z_dim), int(c_dim), int(w_dim), int(num_ws)
        self.num_layers = int(num_layers)
        embed_features = w_dim if embed_features is None else embed_features
        embed_features = 0 if c_dim == 0 else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        self.embed = FullyConnectedLayer(c_dim, embed_features, generator=generator) if c_dim > 0 else None
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                                          lr_multiplier=lr_multiplier, generator=generator))
        if has_w_avg:
            self.register_buffer("w_avg", torch.zeros(w_dim, device="cpu"))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, **_) -> torch.Tensor:
        """(B, z_dim) codes and (B, c_dim) labels -> (B, num_ws, w_dim), truncated."""
        x = ops.normalize_2nd_moment(z)
        if self.c_dim > 0:
            x = torch.cat([x, ops.normalize_2nd_moment(self.embed(c.to(z.dtype)))], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        x = x[:, None].expand(x.shape[0], self.num_ws, self.w_dim)
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else min(int(truncation_cutoff), self.num_ws)
            head = torch.lerp(self.w_avg.to(x.dtype), x[:, :cut], float(truncation_psi))
            x = torch.cat([head, x[:, cut:]], dim=1) if cut < self.num_ws else head
        return x
