"""StyleGAN2 layers checked against their definitions: modulated convolution and upfirdn2d."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ganmetric.generators.stylegan2_layers import (ModulatedConv2d, StyleGAN2Network, make_kernel, rosinality_channels,
                                                   upfirdn2d)



def test_modulated_conv_matches_per_sample_weights():
    """Our unfused modulated conv equals the definition: a demodulated weight per sample (upsample too)."""
    g = torch.Generator().manual_seed(0)
    for up in (False, True):
        m = ModulatedConv2d(4, 5, 3, 6, upsample=up, generator=g).double()
        x, w = torch.randn(2, 4, 5, 5, generator=g).double(), torch.randn(2, 6, generator=g).double()
        s = F.linear(w, m.modulation.weight / math.sqrt(6), m.modulation.bias)
        outs = []
        for b in range(2):
            W = m.weight[0] / math.sqrt(4 * 9) * s[b][None, :, None, None]
            W = W / torch.sqrt(W.square().sum((1, 2, 3), keepdim=True) + 1e-8)
            if up:  # transposed stride-2 conv, then the [1,3,3,1] blur (x4) with pads (1, 1)
                y = F.conv_transpose2d(x[b:b + 1], W.transpose(0, 1), stride=2)
                k = make_kernel([1, 3, 3, 1], 2).double()
                y = F.conv2d(F.pad(y, [1, 1, 1, 1]), k.expand(5, 1, 4, 4), groups=5)
            else:
                y = F.conv2d(x[b:b + 1], W, padding=1)
            outs.append(y)
        torch.testing.assert_close(m(x, w), torch.cat(outs), rtol=1e-12, atol=1e-12)
        assert m(x, w).shape[-1] == (10 if up else 5)


def test_upfirdn2d_against_its_definition():
    """Zero insertion (x at even positions), zero padding, then true convolution with the kernel."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 3, 3, generator=g, dtype=torch.float64)
    k = torch.randn(4, 4, generator=g, dtype=torch.float64)  # not symmetric: checks the flip
    U = torch.zeros(6, 6, dtype=torch.float64)
    U[::2, ::2] = x[0, 0]
    P = F.pad(U, [2, 1, 2, 1])
    ref = torch.tensor([[sum(float(P[i + a, j + b] * k[3 - a, 3 - b]) for a in range(4) for b in range(4))
                         for j in range(6)] for i in range(6)], dtype=torch.float64)
    torch.testing.assert_close(upfirdn2d(x, k, up=2, pad=(2, 1))[0, 0], ref, rtol=1e-12, atol=1e-12)


def test_network_sizes_follow_rosinality():
    assert rosinality_channels(256) == [512, 512, 512, 512, 512, 256, 128]
    net = StyleGAN2Network(channels=[8, 8, 4], style_dim=8, n_mlp=1)
    assert (net.size, net.n_latent, net.num_layers) == (16, 6, 5)
    assert [tuple(getattr(net.noises, f"noise_{k}").shape[-2:]) for k in range(5)] == [(4, 4), (8, 8), (8, 8),
                                                                                       (16, 16), (16, 16)]
    x = net.synthesis(torch.randn(2, 6, 8))
    assert x.shape == (2, 3, 16, 16)
