"""PGGAN and DCGAN from facebookresearch/pytorch_GAN_zoo (families ``pggan`` and ``gan-zoo-dcgan``).

The paper measures the PGGAN celebAHQ-256 (512-d) and the DCGAN FashionGen (120-d) that the
repository's ``hubconf.py`` publishes. Checkpoints are read by :mod:`.ganzoo_file` (weights
only; the pickled ``BaseConfig`` as plain data); the networks are rebuilt from that config
and ``avgG`` (the moving-average generator the authors use) is loaded strictly. The
networks are written here from the repository's ``progressive_conv_net.py``,
``DCGAN_nets.py`` and ``custom_layers.py`` (read, not copied):

- PGGAN (``GNet``): pixel norm of the code, an equalized linear "format" layer to 4x4, leaky
  ReLU and pixel norm after every layer, per scale a nearest x2 upsampling and two 3x3
  convolutions, a 1x1 toRGB at the last scale (blended with the previous scale's when the
  stored ``alpha`` > 0), tanh only for the MSE/DCGAN losses (the published WGAN-GP models
  output unbounded values, nominally [-1, 1]). Equalized learning rate multiplies each
  layer's output, bias included, by ``sqrt(2 / fan_in)``: applied to the weight and bias
  (:class:`~ganmetric.generators.fast_layers.EqualizedConv2d`), not to the activations. The
  state dict is the checkpoint's with the ``.module.`` level of the keys dropped (legacy keys
  without it load too, as ``loadStateDictCompatible`` accepts).
- DCGAN: a 4x4 transposed-convolution format layer, then BatchNorm, ReLU and stride-2
  transposed convolutions, tanh for the DCGAN/MSE losses. Module and key names are the
  checkpoint's. **Eval mode**: the BatchNorms use their stored statistics (folded into the
  convolutions, :class:`~ganmetric.generators.dcgan.FoldedStack`). The authors' code ran
  ``avgG`` as the hub returned it, in train mode, so their DCGAN images depended on the
  other codes of the batch; the metric needs a function of one code.

Codes: standard normal over the whole input (``buildNoiseData`` draws ``torch.randn``; the
GAN-Geometry authors draw ``torch.randn(n, 120)`` for the DCGAN). A conditional (AC-GAN)
checkpoint's input also holds its category part (``categoryVectorDim``): here it is part of
the latent like the rest, drawn N(0, 1) by ``sample`` (the repository draws one-hot categories).
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from .base import Generator, load_state_strict, normal_rows
from .dcgan import FoldedStack
from .families import register_family
from .fast_layers import ConvLinear, EqualizedConv2d, pixel_norm
from .ganzoo_file import ganzoo_family, load_ganzoo_file, split_ganzoo
from .weights import resolve_user_file

#: loss modes whose generator ends with tanh (``base_loss_criterions``: MSE and DCGAN; WGANGP and Logistic: none)
TANH_LOSSES = ("MSE", "DCGAN")
LOSSES = ("MSE", "DCGAN", "WGANGP", "Logistic")


def _upscale(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 upsampling (the repository's ``Upscale2d``)."""
    B, C, H, W = x.shape
    return x[:, :, :, None, :, None].expand(B, C, H, 2, W, 2).reshape(B, C, 2 * H, 2 * W)


class _ZooGenerator(Generator):
    """What both pytorch_GAN_zoo generators share: the config they came from, N(0, 1) codes."""

    family = "pggan"

    def __init__(self, *, name: str, config: dict, latent_dim: int, resolution: int):
        super().__init__(name=name, latent_dim=latent_dim, latent_space="z", resolution=resolution)
        self.config = dict(config)
        self.tanh = config.get("lossCriterion") in TANH_LOSSES

    def map_options(self) -> dict:
        return {"family": self.family}

    def sample(self, n: int = 1, seed: int = 0) -> torch.Tensor:
        """Standard normal codes (the authors' ``buildNoiseData``): (n, latent_dim), row i independent of n."""
        return normal_rows(n, self.latent_dim, seed).to(device=self.device, dtype=self.dtype)


class PGGANGenerator(_ZooGenerator):
    """pytorch_GAN_zoo's progressive GAN generator (``GNet``) with equalized-lr gains folded in.

    Args:
        config: the checkpoint's plain config (``latentVectorDim``, ``depthScale0``,
            ``depthOtherScales``, ``dimOutput``, ``leakyReluLeak``, ``alpha``, ``lossCriterion``).
        name: model name.
    """

    family = "pggan"

    def __init__(self, *, config: dict, name: str = "pggan"):
        depths = [int(config["depthScale0"])] + [int(d) for d in config.get("depthOtherScales") or []]
        super().__init__(name=name, config=config, latent_dim=int(config["latentVectorDim"]),
                         resolution=4 * 2 ** (len(depths) - 1))
        self.leak = float(config.get("leakyReluLeak", 0.2))
        self.alpha = float(config.get("alpha") or 0.0) if len(depths) > 1 else 0.0
        out = int(config.get("dimOutput", 3))
        equalized = bool(config.get("equalizedlR", True))

        def conv(c_in, c_out, k):
            gain = math.sqrt(2.0 / (c_in * k * k)) if equalized else 1.0
            return EqualizedConv2d(c_in, c_out, k, padding=k // 2, gain=gain)

        gain = math.sqrt(2.0 / self.latent_dim) if equalized else 1.0
        self.formatLayer = ConvLinear(self.latent_dim, 16 * depths[0], gain=gain)  # first: SeFa's layer
        self.groupScale0 = nn.ModuleList([conv(depths[0], depths[0], 3)])
        self.scaleLayers = nn.ModuleList(nn.ModuleList([conv(c_in, c_out, 3), conv(c_out, c_out, 3)])
                                         for c_in, c_out in zip(depths[:-1], depths[1:]))
        self.toRGBLayers = nn.ModuleList(conv(d, out, 1) for d in depths)
        self.freeze()

    def map_options(self) -> dict:
        return {**super().map_options(), "alpha": self.alpha}

    def _block(self, conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(F.leaky_relu(conv(x), self.leak))

    def _generate(self, z):
        x = pixel_norm(z)
        x = F.leaky_relu(self.formatLayer(x), self.leak).reshape(z.shape[0], -1, 4, 4)
        x = pixel_norm(x)
        for conv in self.groupScale0:
            x = self._block(conv, x)
        low = None
        if self.alpha > 0 and len(self.scaleLayers) == 1:
            low = _upscale(self.toRGBLayers[-2](x))
        for i, group in enumerate(self.scaleLayers):
            x = _upscale(x)
            for conv in group:
                x = self._block(conv, x)
            if self.alpha > 0 and i == len(self.scaleLayers) - 2:
                low = _upscale(self.toRGBLayers[-2](x))
        x = self.toRGBLayers[-1](x)
        if low is not None:  # the stored blend of a checkpoint saved while a scale was fading in
            x = self.alpha * low + (1.0 - self.alpha) * x
        return torch.tanh(x) if self.tanh else x


class ZooDCGANGenerator(_ZooGenerator):
    """pytorch_GAN_zoo's DCGAN generator (``DCGAN_nets.GNet``), BatchNorm in eval mode (folded).

    Args:
        config: the checkpoint's plain config (``latentVectorDim``, ``dimG``, ``depth``,
            ``dimOutput``, ``lossCriterion``).
        name: model name.
    """

    family = "gan-zoo-dcgan"

    def __init__(self, *, config: dict, name: str = "gan-zoo-dcgan"):
        depth, dim_g = int(config["depth"]), int(config["dimG"])
        super().__init__(name=name, config=config, latent_dim=int(config["latentVectorDim"]),
                         resolution=2 ** (depth + 3))
        width = dim_g * 2 ** depth
        self.formatLayer = nn.ConvTranspose2d(self.latent_dim, width, 4, 1, 0, bias=False)
        seq = OrderedDict([("batchNorm0", nn.BatchNorm2d(width)), ("relu0", nn.ReLU())])
        for i in range(depth):
            seq[f"convTranspose{i + 1}"] = nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False)
            seq[f"batchNorm{i + 1}"] = nn.BatchNorm2d(width // 2)
            seq[f"relu{i + 1}"] = nn.ReLU()
            width //= 2
        seq["outlayer"] = nn.ConvTranspose2d(dim_g, int(config.get("dimOutput", 3)), 4, 2, 1, bias=False)
        self.main = nn.Sequential(seq)
        body = nn.Sequential(self.formatLayer, *self.main, *([nn.Tanh()] if self.tanh else []))
        self._body = FoldedStack(body)  # the same modules, run with each BatchNorm folded (not a submodule)
        self.freeze()

    def freeze(self) -> "ZooDCGANGenerator":
        super().freeze()
        if hasattr(self, "_body"):
            self._body.steps()  # fold now, not inside the first differentiated pass
        return self

    def _generate(self, z):
        return self._body(z[:, :, None, None])


def _pggan_state(state: dict, where: str) -> dict:
    """avgG's keys without ``.module.`` (either form accepted, not both)."""
    out = OrderedDict()
    for key, value in state.items():
        short = key.replace(".module.", ".")
        if short in out:
            raise WeightsError(f"{where}: avgG holds {short} twice (with and without '.module.')")
        out[short] = value
    return out


def _check_config(config: dict, family: str, where: str) -> None:
    needs = {"pggan": ("latentVectorDim", "depthScale0"), "gan-zoo-dcgan": ("latentVectorDim", "dimG", "depth")}
    missing = [k for k in needs[family] if not isinstance(config.get(k), int) or isinstance(config.get(k), bool)]
    if missing:
        raise WeightsError(f"{where}: its config lacks the integer {', '.join(missing)} of a {family} model")
    if config.get("lossCriterion", "WGANGP") not in LOSSES:
        raise WeightsError(f"{where}: unknown lossCriterion {config.get('lossCriterion')!r} in its config")
    if family == "pggan" and config.get("perChannelNormalization") is False:
        raise WeightsError(f"{where}: perChannelNormalization=False is not supported (the repository's own GNet "
                           f"cannot run it)")


def ganzoo_from_checkpoint(obj, *, family: str | None = None, name: str | None = None,
                           where: str = "checkpoint") -> _ZooGenerator:
    """A frozen PGGAN or DCGAN from a loaded pytorch_GAN_zoo checkpoint (``avgG``, strictly).

    Args:
        obj: the loaded checkpoint (:func:`~ganmetric.generators.ganzoo_file.load_ganzoo_file`).
        family: ``pggan`` or ``gan-zoo-dcgan``; the checkpoint must be one (None: whichever it is).
        name: model name (default: the family).

    Raises:
        WeightsError: not a pytorch_GAN_zoo checkpoint, one of the other family, a config
            that does not describe the network, or an avgG that does not fit it (one line).
    """
    config, state = split_ganzoo(obj, where=where)
    found = ganzoo_family(config)
    if found is None:
        raise WeightsError(f"{where}: its config describes neither a PGGAN (depthScale0) nor a DCGAN (dimG)")
    if family is not None and found != family:
        raise WeightsError(f"{where} holds a pytorch_GAN_zoo {found} model, not a {family}: use the model '{found}'")
    _check_config(config, found, where)
    with torch.device("cpu"):
        if found == "pggan":
            gen = PGGANGenerator(config=config, name=name or found)
            state = _pggan_state(state, where)
        else:
            gen = ZooDCGANGenerator(config=config, name=name or found)
    load_state_strict(gen, state, where, label="avgG of")
    return gen.freeze()


def _check_named(cfg: dict, gen: _ZooGenerator, path) -> None:
    """A named config's resolution and latent size must be the file's."""
    res, n = cfg.get("resolution"), (cfg.get("latent_spaces") or {}).get("z")
    if (isinstance(res, int) and res != gen.resolution) or (isinstance(n, int) and n != gen.latent_dim):
        raise WeightsError(f"{path} holds a {gen.resolution} px {gen.family} with {gen.latent_dim}-d codes, but model "
                           f"{cfg['name']} is {res} px with {n}-d codes; use the model '{gen.family}' for any file")


def _build(cfg: dict, family: str, weights) -> _ZooGenerator:
    path, info = resolve_user_file(cfg, weights)
    gen = ganzoo_from_checkpoint(load_ganzoo_file(path), family=family, name=cfg["name"], where=str(path))
    _check_named(cfg, gen, path)
    gen.weights = info
    return gen


@register_family("pggan")
def build_pggan(cfg: dict, *, latent_space: str = "z", weights: str | None = None) -> PGGANGenerator:
    """Builder for ``family: pggan`` configs: a pytorch_GAN_zoo PGAN ``.pth`` (``weights=`` or the named file).

    Raises:
        InputError: a missing weights file. WeightsError: no file, or one that does not fit.
    """
    return _build(cfg, "pggan", weights)


@register_family("gan-zoo-dcgan")
def build_gan_zoo_dcgan(cfg: dict, *, latent_space: str = "z", weights: str | None = None) -> ZooDCGANGenerator:
    """Builder for ``family: gan-zoo-dcgan`` configs: a pytorch_GAN_zoo DCGAN ``.pth``.

    Raises:
        InputError: a missing weights file. WeightsError: no file, or one that does not fit.
    """
    return _build(cfg, "gan-zoo-dcgan", weights)

