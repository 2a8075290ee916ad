"""DeePSim (Dosovitskiy & Brox 2016) upconvolution generators: variants fc6, fc7, fc8 and pool5 (family ``deepsim``).

These invert AlexNet's features: fc6/fc7 codes are 4096-d, fc8 codes 1000-d, pool5 codes
256 x 6 x 6 = 9216-d (flattened row-major, as ``code.reshape(B, 256, 6, 6)``). The paper's
neuron-evolution experiments (and its Hessian-aware CMA-ES) use fc6.

Checkpoint format: the state dict of the authors' ``upconvGAN(name).G`` (Animadversio/GAN-Geometry
``core/GAN_utils.py``, read, not copied): keys ``defc7.weight`` ... ``deconv0.bias`` (fc
variants) or ``Rconv6.weight`` ... (pool5), exactly as their ``nn.Sequential`` names them. The
authors' local copies have ``.1.`` inside every key (``defc7.1.weight``); those are renamed
on load as their code does. Every key must be used (strict), every width is read off the
shapes (so narrow copies load for tests), and a variant that does not fit the shapes is
refused in one line.

Output, as the authors' ``visualize``: the network's BGR output in pixel units, flipped to RGB,
plus the ImageNet mean (123, 117, 104), clamped to [0, 255], divided by 255; ganmetric exposes
it in [-1, 1] (``2 * visualize - 1``). The clamp zeroes the derivative of every saturated
pixel (the metric ignores them); ``clamp=False`` keeps the unclamped affine image.

For the cold start (no Python decomposition under ``vmap(jvp)``) the linears run as 1x1
convolutions (:class:`~ganmetric.generators.fast_layers.ConvLinear`) and the last layer
``deconv0`` folds the channel flip, the mean and the [-1, 1] scaling into its own weight and
bias (derived from the checkpoint's tensors at every call; the state dict is the
checkpoint's). A forward hook on ``deconv0`` therefore sees the image before the clamp.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks
from ..errors import InputError, WeightsError
from ..io import load_torch_file
from .base import Generator, load_state_strict, normal_rows
from .families import register_family
from .fast_layers import ConvLinear
from .weights import resolve_user_file

VARIANTS = ("fc6", "fc7", "fc8", "pool5")
#: ImageNet mean in RGB pixel units, added to the network's output by the authors' ``visualize``
RGB_MEAN = (123.0, 117.0, 104.0)
#: slope of every LeakyReLU
LEAK = 0.3
#: the transposed convolutions after the code's first stage: name -> (kernel, stride, padding)
DECONVS = (("deconv5", 4, 2, 1), ("conv5_1", 3, 1, 1), ("deconv4", 4, 2, 1), ("conv4_1", 3, 1, 1),
           ("deconv3", 4, 2, 1), ("conv3_1", 3, 1, 1), ("deconv2", 4, 2, 1), ("deconv1", 4, 2, 1),
           ("deconv0", 4, 2, 1))
#: the first stage: fully connected (fc variants) or convolutions on the 6x6 pool5 map: name -> padding
FC_LAYERS = ("defc7", "defc6", "defc5")
POOL5_CONVS = (("Rconv6", 1), ("Rconv7", 1), ("Rconv8", 0))
#: spatial side of the first feature map: 4 after defc5 (reshaped), 6 for pool5 codes
FC_SIDE, POOL5_SIDE = 4, 6


class _OutputLayer(nn.ConvTranspose2d):
    """``deconv0`` with the authors' output formula folded in: RGB order, + mean, scaled to [-1, 1].

    ``2 (raw[:, ::-1] + mean) / 255 - 1`` is one transposed convolution with output channels
    flipped, weight ``W * 2/255`` and bias ``(b + mean) * 2/255 - 1``: no elementwise op on the
    tangents.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(RGB_MEAN, dtype=self.weight.dtype, device=self.weight.device)
        scale = 2.0 / 255.0
        weight = self.weight.flip(1) * scale
        bias = (self.bias.flip(0) + mean) * scale - 1.0
        return F.conv_transpose2d(x, weight, bias, self.stride, self.padding)


def layout_variant(state: dict) -> str:
    """The variant a state dict's layout says: ``pool5`` (Rconv layers), ``fc8`` (1000 inputs), else ``fc6``.

    fc6 and fc7 have the same layout and shapes; only the caller can say which it is.
    """
    if "Rconv6.weight" in state:
        return "pool5"
    w = state.get("defc7.weight")
    return "fc8" if w is not None and w.dim() == 2 and w.shape[1] == 1000 else "fc6"


def _check_variant(variant: str, state: dict, where: str) -> None:
    found = layout_variant(state)
    same = {"fc6": ("fc6", "fc7"), "fc7": ("fc6", "fc7"), "fc8": ("fc8", "fc6", "fc7"), "pool5": ("pool5",)}
    w = state.get("defc7.weight")
    clash = found not in same[variant] or (variant == "fc8" and w is not None and w.shape[1] == 4096)
    if clash:
        holds = {"pool5": "a pool5 generator (Rconv layers, 256x6x6 codes)", "fc8": "an fc8 generator (1000-d codes)",
                 "fc6": "an fc6/fc7 generator (4096-d codes)"}[found]
        raise WeightsError(f"{where} holds {holds}, not the DeePSim variant {variant}")


def expected_keys(variant: str) -> list[str]:
    """Every key of a DeePSim state dict of this variant, in the authors' order."""
    first = [n for n, _ in POOL5_CONVS] if variant == "pool5" else list(FC_LAYERS)
    return [f"{n}.{p}" for n in first + [d[0] for d in DECONVS] for p in ("weight", "bias")]


def canonical_state(state: dict, *, where: str = "checkpoint") -> dict:
    """The state dict with the authors' local ``.1.`` keys renamed (all or none), tensors made contiguous.

    Raises:
        WeightsError: not a dict of tensors, or keys mixing both forms.
    """
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{where}: expected a DeePSim state dict of tensors (keys defc7.weight ... deconv0.bias)")
    dotted = [".1." in k for k in state]
    if any(dotted) and not all(dotted):
        raise WeightsError(f"{where}: some keys have the authors' local '.1.' form and some do not")
    return OrderedDict((k.replace(".1.", ".") if all(dotted) else k, v.contiguous()) for k, v in state.items())


class DeePSimGenerator(Generator):
    """A DeePSim upconv generator: code (B, n) -> RGB image (B, 3, 256, 256) in [-1, 1].

    Args:
        variant: fc6, fc7, fc8 or pool5.
        widths: the architecture's sizes, read from a state dict by :func:`widths_from_state`.
        name: model name.
        clamp: clamp the image to [-1, 1] as the authors' ``visualize`` clamps to [0, 255].
    """

    def __init__(self, *, variant: str, widths: dict, name: str = "deepsim", clamp: bool = True):
        checks.one_of("variant", variant, VARIANTS, what="DeePSim variant")
        pool5 = variant == "pool5"
        code = widths["code_channels"] * POOL5_SIDE ** 2 if pool5 else widths["code"]
        super().__init__(name=name, latent_dim=code, latent_space="z", resolution=widths["resolution"])
        self.variant, self.clamp = variant, bool(clamp)
        self.code_channels = widths["code_channels"]
        if pool5:
            c_in = widths["code_channels"]
            for (n, pad), c_out in zip(POOL5_CONVS, widths["first"]):
                self.add_module(n, nn.Conv2d(c_in, c_out, 3, padding=pad))
                c_in = c_out
        else:
            f_in = widths["code"]
            for n, f_out in zip(FC_LAYERS, widths["first"]):
                self.add_module(n, ConvLinear(f_in, f_out))
                f_in = f_out
        c_in = widths["deconv_in"]
        for (n, k, s, p), c_out in zip(DECONVS, widths["deconvs"]):
            cls = _OutputLayer if n == "deconv0" else nn.ConvTranspose2d
            self.add_module(n, cls(c_in, c_out, k, stride=s, padding=p))
            c_in = c_out
        self.freeze()

    def map_options(self) -> dict:
        return {"family": "deepsim", "variant": self.variant, "clamp": self.clamp}

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        B = z.shape[0]
        if self.variant == "pool5":
            x = z.reshape(B, self.code_channels, POOL5_SIDE, POOL5_SIDE)
            for n, _ in POOL5_CONVS:
                x = F.leaky_relu(getattr(self, n)(x), LEAK)
        else:
            x = z
            for n in FC_LAYERS:
                x = F.leaky_relu(getattr(self, n)(x), LEAK)
            x = x.reshape(B, self.deconv5.in_channels, FC_SIDE, FC_SIDE)
        for n, *_ in DECONVS[:-1]:
            x = F.leaky_relu(getattr(self, n)(x), LEAK)
        x = self.deconv0(x)
        return x.clamp(-1.0, 1.0) if self.clamp else x

    def sample(self, n: int = 1, seed: int = 0) -> torch.Tensor:
        """Standard normal codes, as the authors draw them (``torch.randn(n, 4096)`` for fc6).

        Returns:
            (n, latent_dim) on the generator's device and dtype; row i does not depend on n.
        """
        return normal_rows(n, self.latent_dim, seed).to(device=self.device, dtype=self.dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, variant={self.variant!r}, clamp={self.clamp}"


def widths_from_state(state: dict, variant: str, *, where: str = "checkpoint") -> dict:
    """The sizes of every layer, read off a (canonical) state dict's shapes.

    Raises:
        WeightsError: a missing or unexpected key, a tensor of the wrong rank, or widths that do not chain.
    """
    expected = expected_keys(variant)
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = ([f"missing keys {', '.join(missing[:4])}" + (" ..." if len(missing) > 4 else "")] if missing else [])
        parts += [f"unexpected keys {', '.join(extra[:4])}" + (" ..." if len(extra) > 4 else "")] if extra else []
        raise WeightsError(f"{where} does not fit a DeePSim {variant} generator ({'; '.join(parts)})")
    rank = {n: 4 for n, _ in POOL5_CONVS} | {n: 2 for n in FC_LAYERS} | {d[0]: 4 for d in DECONVS}
    for k in expected:
        if k.endswith(".weight") and state[k].dim() != rank[k[:-7]]:
            raise WeightsError(f"{where}: {k} should have {rank[k[:-7]]} dims, has shape {tuple(state[k].shape)}")
    deconvs = [int(state[f"{n}.weight"].shape[1]) for n, *_ in DECONVS]
    if variant == "pool5":
        first = [int(state[f"{n}.weight"].shape[0]) for n, _ in POOL5_CONVS]
        widths = {"code": None, "code_channels": int(state["Rconv6.weight"].shape[1]), "first": first,
                  "deconv_in": first[-1]}
        side = POOL5_SIDE - 2
    else:
        first = [int(state[f"{n}.weight"].shape[0]) for n in FC_LAYERS]
        c0 = int(state["deconv5.weight"].shape[0])
        if first[-1] != c0 * FC_SIDE ** 2:
            raise WeightsError(f"{where}: defc5 has {first[-1]} outputs, but deconv5 takes {c0} channels of "
                               f"{FC_SIDE}x{FC_SIDE} = {c0 * FC_SIDE ** 2}")
        widths = {"code": int(state["defc7.weight"].shape[1]), "code_channels": None, "first": first, "deconv_in": c0}
        side = FC_SIDE
    widths["deconvs"] = deconvs
    widths["resolution"] = side * 2 ** sum(1 for _, _, s, _ in DECONVS if s == 2)
    return widths


def deepsim_from_state(state: dict, *, variant: str | None = None, clamp: bool = True, name: str = "deepsim",
                       where: str = "checkpoint") -> DeePSimGenerator:
    """A frozen :class:`DeePSimGenerator` holding ``state`` (loaded strictly).

    Args:
        state: the authors' state dict (either key form).
        variant: fc6, fc7, fc8 or pool5; None reads it from the layout (fc6 for a 4096-d code:
            fc6 and fc7 share their layout, say ``variant="fc7"`` for the fc7 generator).
        clamp: see :class:`DeePSimGenerator`.

    Raises:
        InputError: an unknown variant. WeightsError: the state dict does not fit (one line).
    """
    state = canonical_state(state, where=where)
    if variant is None:
        variant = layout_variant(state)
    variant = checks.one_of("variant", variant, VARIANTS, what="DeePSim variant")
    _check_variant(variant, state, where)
    widths = widths_from_state(state, variant, where=where)
    with torch.device("meta"):  # no random initialisation of 56 M parameters that are overwritten next
        gen = DeePSimGenerator(variant=variant, widths=widths, name=name, clamp=clamp)
    gen.to_empty(device="cpu")
    load_state_strict(gen, state, where)
    return gen.freeze()


@register_family("deepsim")
def build_deepsim(cfg: dict, *, latent_space: str = "z", weights: str | None = None, variant: str | None = None,
                  clamp: bool | None = None) -> DeePSimGenerator:
    """Builder for ``family: deepsim`` configs.

    Config keys used: ``architecture.variant`` (the named configs' variant; ``variant=`` must
    agree), ``weights`` (where the published file comes from, its name and digest when known:
    see :func:`~ganmetric.generators.weights.resolve_user_file`).

    Raises:
        InputError: a variant other than the config's, or ``clamp`` not a bool.
        WeightsError: no weights file, or one that does not fit.
    """
    fixed = (cfg.get("architecture") or {}).get("variant")
    if variant is not None:
        variant = checks.one_of("variant", str(variant), VARIANTS, what="DeePSim variant")
        if fixed is not None and variant != fixed:
            raise InputError(f"model {cfg['name']} is the DeePSim {fixed} generator; variant {variant} needs the "
                             f"model 'deepsim' (or deepsim-{variant})", argument="variant")
    clamp = True if clamp is None else clamp
    if not isinstance(clamp, bool):
        raise InputError(f"clamp must be True or False, got {clamp}", argument="clamp")
    path, info = resolve_user_file(cfg, weights)
    state = load_torch_file(path, what="DeePSim weights file")
    gen = deepsim_from_state(state, variant=variant or fixed, clamp=clamp, name=cfg["name"], where=str(path))
    gen.weights = info
    return gen
