"""DCGAN generators (Radford et al. 2016), unconditional and class-conditional.

The architecture is the standard transposed-convolution stack: a 4x4 projection of the
code, then stride-2 upsampling blocks (ConvTranspose 4x4 + BatchNorm + ReLU) that halve
the width and double the side, and a final ConvTranspose + tanh to ``nc`` channels.
Module names (``main.0.weight`` ...) follow the PyTorch DCGAN tutorial so that its
checkpoints load strictly.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError, WeightsError
from ..io import load_torch_file
from .base import Generator, load_state_strict
from .families import register_family
from .weights import resolve_weights


def dcgan_stack(nz: int, ngf: int, nc: int, resolution: int, dropout: float = 0.0) -> nn.Sequential:
    """The DCGAN generator body as an ``nn.Sequential``.

    Args:
        nz: input channels (latent size, plus the one-hot size for conditional models).
        ngf: width of the last hidden block; blocks above it double it.
        nc: output channels.
        resolution: output side (64 -> 5 layers, 128 -> 6 layers, ...), a power of 2 >= 8.
        dropout: Dropout probability after the first block (eval mode makes it identity).
    """
    n_up = resolution.bit_length() - 1 - 2  # number of stride-2 layers after the 4x4 projection
    if resolution < 8 or resolution & (resolution - 1):
        raise InputError(f"DCGAN resolution must be a power of 2 >= 8, got {resolution}")
    widths = [ngf * 2 ** (n_up - 1 - i) for i in range(n_up)]  # e.g. 64 px: 512, 256, 128, 64
    layers: list[nn.Module] = [nn.ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
    if dropout:
        layers.append(nn.Dropout(dropout))
    for c_in, c_out in zip(widths[:-1], widths[1:]):
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


class DCGANGenerator(Generator):
    """Unconditional DCGAN: z (B, nz) -> image (B, nc, R, R) in [-1, 1]."""

    def __init__(self, *, name: str = "dcgan", nz: int = 100, ngf: int = 64, nc: int = 3, resolution: int = 64):
        super().__init__(name=name, latent_dim=nz, latent_space="z", resolution=resolution)
        self.main = dcgan_stack(nz, ngf, nc, resolution)
        self.freeze()

    def _generate(self, z):
        return self.main(z[:, :, None, None])


class ConditionalDCGANGenerator(Generator):
    """Class-conditional DCGAN: the latent is the noise; a fixed one-hot class is appended.

    The image is ``main(cat(z, onehot(class)))``; the class is an option of the model, not
    part of the latent space, so the metric is over the noise only.
    """

    def __init__(self, *, name: str, nz: int, n_classes: int, class_names: tuple[str, ...],
                 class_name: str | None = None, ngf: int = 64, nc: int = 3, resolution: int = 128,
                 dropout: float = 0.0):
        super().__init__(name=name, latent_dim=nz, latent_space="z", resolution=resolution)
        from .. import checks
        self.class_names = tuple(class_names)
        class_name = class_name or self.class_names[0]
        checks.one_of("class name", class_name, self.class_names)
        self.class_name = class_name
        self.main = dcgan_stack(nz + n_classes, ngf, nc, resolution, dropout=dropout)
        onehot = torch.zeros(n_classes)
        onehot[self.class_names.index(class_name)] = 1.0
        self.register_buffer("onehot", onehot, persistent=False)
        self.freeze()

    def map_options(self) -> dict:
        return {"class_name": self.class_name}

    def _generate(self, z):
        label = self.onehot.to(z.dtype).expand(z.shape[0], -1)
        return self.main(torch.cat([z, label], dim=1)[:, :, None, None])


#: ``pretrained=False`` builds the architecture with torch's default initialisation under this seed
RANDOM_INIT_SEED = 0


def _seeded(build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        return build()


def _load_pretrained(gen: Generator, cfg: dict, weights, pretrained: bool) -> Generator:
    """Load the config's verified weights, or a user's file, strictly; or keep seeded random weights."""
    if not pretrained:
        gen.weights = {"source": "random", "seed": RANDOM_INIT_SEED}
        return gen.freeze()
    path, gen.weights = resolve_weights(cfg, weights)
    state = load_torch_file(path)
    key = (cfg.get("weights") or {}).get("key")
    if key is not None:
        if not isinstance(state, dict) or key not in state:
            raise WeightsError(f"weights file {path} has no entry {key}")
        state = state[key]
    load_state_strict(gen, state, path)
    return gen.freeze()


@register_family("dcgan")
def build_dcgan(cfg: dict, *, latent_space: str = "z", weights: str | None = None, pretrained: bool = True):
    """Builder for ``family: dcgan`` configs (``architecture``: nz, ngf, nc, resolution)."""
    arch = cfg["architecture"]
    gen = _seeded(lambda: DCGANGenerator(name=cfg["name"], nz=arch["nz"], ngf=arch["ngf"], nc=arch["nc"],
                                         resolution=cfg["resolution"]))
    return _load_pretrained(gen, cfg, weights, pretrained)


@register_family("cdcgan")
def build_cdcgan(cfg: dict, *, latent_space: str = "z", weights: str | None = None, pretrained: bool = True,
                 class_name: str | None = None):
    """Builder for ``family: cdcgan`` configs (conditional DCGAN with a fixed one-hot class)."""
    arch = cfg["architecture"]
    gen = _seeded(lambda: ConditionalDCGANGenerator(
        name=cfg["name"], nz=arch["nz"], n_classes=len(arch["class_names"]), class_names=tuple(arch["class_names"]),
        class_name=class_name, ngf=arch["ngf"], nc=arch["nc"], resolution=cfg["resolution"],
        dropout=arch.get("dropout", 0.0)))
    return _load_pretrained(gen, cfg, weights, pretrained)
