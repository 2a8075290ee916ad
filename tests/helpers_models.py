"""Small seeded models of the real families, shared by several test modules (test modules never import each other).

- ``tiny_dcgan``: a DCGAN generator (nz 8, 16 px) with seeded random weights and BatchNorm statistics.
- ``rosinality_state``: a random StyleGAN2 ``g_ema`` state dict written from rosinality's key list and shapes.
- ``user_layers_model``: the fixture ``model`` of the CLI layer/compress tests, a user's module loaded by name.
- ``small_biggan``: a small random-weight BigGAN-deep built from pytorch_pretrained_biggan's own ``BigGANConfig``
  (4 blocks, channel width 4, 16 px, 10 classes, noise/embedding size 16), initialised so that it is a fair test:
  the final batch norm's affine parameters (left uninitialised by the package) set, random stored batch-norm
  statistics per truncation, the self-attention gain non-zero, and the spectral-norm vectors converged by power
  iteration. Callers ``pytest.importorskip("pytorch_pretrained_biggan")`` first.
"""
from __future__ import annotations

import copy
import functools
import math
import sys
import textwrap

import pytest
import torch

from helpers import randomize_

STYLE_DIM, N_MLP, CHANNELS = 16, 2, {4: 8, 8: 8, 16: 4}  # 16 px: n_latent 6, w+ has 96 dims


def tiny_dcgan(name="tiny-dcgan", seed=0):
    """nz 8, 16 px, float64: main.0 ConvT, main.1 BN, main.2 ReLU(inplace), main.3 ConvT, main.4 BN,
    main.5 ReLU(inplace), main.6 ConvT, main.7 Tanh."""
    from ganmetric.generators.dcgan import DCGANGenerator
    return randomize_(DCGANGenerator(name=name, nz=8, ngf=4, nc=3, resolution=16), seed=seed).double()


def rosinality_state(style_dim=STYLE_DIM, n_mlp=N_MLP, channels=CHANNELS, seed=0) -> dict:
    """A random ``g_ema`` state dict written from rosinality's key list and shapes (not from our module)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape, s=1.0: torch.randn(*shape, generator=g) * s  # noqa: E731
    blur = torch.tensor([1.0, 3, 3, 1])
    blur = (blur[None] * blur[:, None]) / 64 * 4
    sd = {}
    for i in range(1, n_mlp + 1):
        sd[f"style.{i}.weight"] = r(style_dim, style_dim) * 100  # stored as randn / lr_mul (0.01)
        sd[f"style.{i}.bias"] = r(style_dim, s=10.0)

    def styled(prefix, c_in, c_out, up):
        sd[f"{prefix}.conv.weight"] = r(1, c_out, c_in, 3, 3)
        sd[f"{prefix}.conv.modulation.weight"] = r(c_in, style_dim)
        sd[f"{prefix}.conv.modulation.bias"] = 1 + r(c_in, s=0.1)
        if up:
            sd[f"{prefix}.conv.blur.kernel"] = blur.clone()
        sd[f"{prefix}.noise.weight"] = r(1, s=0.3)
        sd[f"{prefix}.activate.bias"] = r(c_out, s=0.1)

    def to_rgb(prefix, c_in, up):
        sd[f"{prefix}.bias"] = r(1, 3, 1, 1, s=0.1)
        if up:
            sd[f"{prefix}.upsample.kernel"] = blur.clone()
        sd[f"{prefix}.conv.weight"] = r(1, 3, c_in, 1, 1)
        sd[f"{prefix}.conv.modulation.weight"] = r(c_in, style_dim)
        sd[f"{prefix}.conv.modulation.bias"] = 1 + r(c_in, s=0.1)

    sides = sorted(channels)
    sd["input.input"] = r(1, channels[4], 4, 4)
    styled("conv1", channels[4], channels[4], False)
    to_rgb("to_rgb1", channels[4], False)
    for i, side in enumerate(sides[1:]):
        c_in, c_out = channels[side // 2], channels[side]
        styled(f"convs.{2 * i}", c_in, c_out, True)
        styled(f"convs.{2 * i + 1}", c_out, c_out, False)
        to_rgb(f"to_rgbs.{i}", c_out, True)
    log_size = int(math.log2(sides[-1]))
    for k in range((log_size - 2) * 2 + 1):
        side = 2 ** ((k + 5) // 2)
        sd[f"noises.noise_{k}"] = r(1, 1, side, side)
    return sd




D_HALF = 16
CONFIG = dict(output_dim=16, z_dim=D_HALF, class_embed_dim=D_HALF, channel_width=4, num_classes=10,
              layers=[(False, 16, 8), (False, 8, 4), (True, 4, 2), (True, 2, 1)], attention_layer_position=2)


def _converge_spectral_norms(model: torch.nn.Module) -> None:
    """Set every spectral-norm (u, v) pair to the top singular vectors of its weight (what
    power iteration converges to), so that the stored sigma is the true spectral norm."""
    for m in model.modules():
        if hasattr(m, "weight_orig") and hasattr(m, "weight_u"):
            W = m.weight_orig.reshape(m.weight_orig.shape[0], -1).double()
            U, S, Vh = torch.linalg.svd(W, full_matrices=False)
            m.weight_u.copy_(U[:, 0].to(m.weight_u.dtype))
            m.weight_v.copy_(Vh[0].to(m.weight_v.dtype))


def small_biggan(seed: int = 0):
    """A deterministic small random BigGAN-deep (see the module docstring); a fresh copy each call."""
    return copy.deepcopy(_small_biggan(seed))


@functools.lru_cache(maxsize=None)
def _small_biggan(seed: int):
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the package initialises from the global RNG; keep ours untouched
        model = BigGAN(BigGANConfig(**CONFIG))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        bn = model.generator.bn  # the unconditional final batch norm: uninitialised by the package
        bn.weight.copy_(1 + 0.1 * torch.randn(bn.weight.shape, generator=g))
        bn.bias.copy_(0.1 * torch.randn(bn.bias.shape, generator=g))
        for m in model.modules():
            if hasattr(m, "running_means"):
                m.running_means.copy_(0.1 * torch.randn(m.running_means.shape, generator=g))
                m.running_vars.copy_(0.5 + torch.rand(m.running_vars.shape, generator=g))
            if hasattr(m, "gamma"):
                m.gamma.fill_(0.7)  # self-attention is off at gamma = 0; test it on
        _converge_spectral_norms(model)
    return model.eval()


LAYERS_NETS = textwrap.dedent('''
    from torch import nn


    def make():
        """6 -> Linear 32 -> Tanh -> Linear 192 -> (3, 8, 8) -> Tanh."""
        return nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 192), nn.Unflatten(1, (3, 8, 8)), nn.Tanh())
''')


@pytest.fixture(name="model")
def user_layers_model(tmp_path, monkeypatch):
    """``--model gm_layers_nets:make --weights W --latent-dim 6`` (seeded weights: every load is the same model)."""
    (tmp_path / "gm_layers_nets.py").write_text(LAYERS_NETS)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(LAYERS_NETS, namespace)
    torch.save(randomize_(namespace["make"](), seed=2, scale=0.4).state_dict(), tmp_path / "w.pt")
    yield ["--model", "gm_layers_nets:make", "--weights", str(tmp_path / "w.pt"), "--latent-dim", "6"]
    sys.modules.pop("gm_layers_nets", None)
