"""DCGAN generators (Radford et al. 2016), unconditional and class-conditional.

The architecture is the standard transposed-convolution stack: a 4x4 projection of the
code, then stride-2 upsampling blocks (ConvTranspose 4x4 + BatchNorm + ReLU) that halve
the width and double the side, and a final ConvTranspose + tanh to ``nc`` channels.
Module names (``main.0.weight`` ...) follow the PyTorch DCGAN tutorial so that its
checkpoints load strictly.

The forward pass folds each eval-mode BatchNorm into the transposed convolution before it
(:class:`FoldedStack`): ``bn(convT(x, W))`` is ``convT(x, W * s, beta - mean * s)`` with
``s = gamma / sqrt(var + eps)``. The state dict keeps the checkpoint's format (the modules
and their parameters are untouched; the folded copies are derived, never saved). Besides
saving a pass over each activation, this keeps constants out of the tangent path of
forward-mode products: under ``vmap(jvp(...))`` an elementwise op between a tangent and a
constant (eval-mode BatchNorm is one) runs a Python decomposition whose first call imports
``torch._dynamo`` (about 2 s of a fresh process's first metric).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, WeightsError
from ..io import load_torch_file
from .base import Generator, cpu_init_seed, load_state_strict
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
        raise InputError(f"DCGAN resolution must be a power of 2 >= 8, got {resolution}", argument="resolution")
    widths = [ngf * 2 ** (n_up - 1 - i) for i in range(n_up)]  # e.g. 64 px: 512, 256, 128, 64
    layers: list[nn.Module] = [nn.ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
    if dropout:
        layers.append(nn.Dropout(dropout))
    for c_in, c_out in zip(widths[:-1], widths[1:]):
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


class FoldedStack:
    """Runs a DCGAN body (``nn.Sequential``) with every eval-mode BatchNorm folded into the
    transposed convolution before it; the modules themselves are not changed.

    The folded weights are derived from the modules' current tensors and recomputed when
    any of them changes (a new state dict, ``.to()``, ``.double()``: the fold is done in
    the tensors' own dtype). The body runs unfolded, module by module, whenever folding
    would change what a caller observes or cannot be done exactly: a forward hook or
    pre-hook on a submodule (layer distances read activations that way), a BatchNorm in
    training mode, or a module of a kind not listed below.

    Folded kinds: ConvTranspose2d (groups = 1) optionally followed by BatchNorm2d, ReLU,
    Tanh, and Dropout in eval mode (the identity).
    """

    def __init__(self, stack: nn.Sequential):
        self.stack = stack
        self._stamp = None
        self._steps = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        steps = self.steps()
        if steps is None or self._hooked():
            return self.stack(x)
        for kind, *args in steps:
            if kind == "convT":
                weight, bias, m = args
                x = F.conv_transpose2d(x, weight, bias, m.stride, m.padding, m.output_padding, m.groups, m.dilation)
            elif kind == "relu":
                x = torch.relu(x)  # out of place: an in-place ReLU costs a copy under forward mode
            elif kind == "tanh":
                x = torch.tanh(x)
        return x

    def steps(self) -> list[tuple] | None:
        """The folded steps for the modules' current tensors (refolded when they changed), or None."""
        stamp = self._current_stamp()
        if stamp != self._stamp:
            with torch.no_grad():
                self._steps = _fold(list(self.stack))
            self._stamp = stamp
        return self._steps

    def _current_stamp(self) -> tuple:
        tensors = [*self.stack.parameters(), *self.stack.buffers()]
        return (tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors),
                tuple(m.training for m in self.stack))

    def _hooked(self) -> bool:
        from torch.nn.modules import module as nn_module
        if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
            return True
        return any(m._forward_hooks or m._forward_pre_hooks for m in self.stack.modules())


def _fold(modules: list[nn.Module]) -> list[tuple] | None:
    """Folded steps of a module list (see :class:`FoldedStack`), or None when one cannot be folded."""
    steps, i = [], 0
    while i < len(modules):
        m = modules[i]
        nxt = modules[i + 1] if i + 1 < len(modules) else None
        if isinstance(m, nn.ConvTranspose2d) and m.groups == 1:
            if isinstance(nxt, nn.BatchNorm2d) and not nxt.training and nxt.running_mean is not None:
                steps.append(("convT", *_fold_batchnorm(m, nxt), m))
                i += 1
            else:
                steps.append(("convT", m.weight, m.bias, m))
        elif isinstance(m, nn.ReLU):
            steps.append(("relu",))
        elif isinstance(m, nn.Tanh):
            steps.append(("tanh",))
        elif not (isinstance(m, nn.Dropout) and not m.training):
            return None
        i += 1
    return steps


def _fold_batchnorm(conv: nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` as one transposed convolution (bn in eval mode).

    ``bn(y) = (y - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)`` per output channel
    (dim 1 of a transposed convolution's weight), so ``W' = W * s``, ``b' = (b - mean) * s + beta``.
    """
    s = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        s = s * bn.weight
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    bias = (bias - bn.running_mean) * s
    if bn.bias is not None:
        bias = bias + bn.bias
    return conv.weight * s[None, :, None, None], bias


class _FoldedGenerator(Generator):
    """A generator whose body ``main`` runs through a :class:`FoldedStack` (``self._body``)."""

    def freeze(self) -> "_FoldedGenerator":
        super().freeze()
        self._body.steps()  # fold now, not inside the first differentiated pass
        return self


class DCGANGenerator(_FoldedGenerator):
    """Unconditional DCGAN: z (B, nz) -> image (B, nc, R, R) in [-1, 1].

    Eval-mode BatchNorm is folded into the transposed convolution before it (the state dict keeps the
    original layout: ``main.*``, as the published weights name it).

    Args:
        name: the model's name in result files.
        nz: the latent size.
        ngf: generator feature maps (the width of the last hidden layer).
        nc: image channels.
        resolution: the image side R (64 or 128).
    """

    def __init__(self, *, name: str = "dcgan", nz: int = 100, ngf: int = 64, nc: int = 3, resolution: int = 64):
        super().__init__(name=name, latent_dim=nz, latent_space="z", resolution=resolution)
        self.main = dcgan_stack(nz, ngf, nc, resolution)
        self._body = FoldedStack(self.main)
        self.freeze()

    def _generate(self, z):
        return self._body(z[:, :, None, None])


class ConditionalDCGANGenerator(_FoldedGenerator):
    """Class-conditional DCGAN: the latent is the noise; a fixed one-hot class is appended.

    The image is ``main(cat(z, onehot(class)))``; the class is an option of the model, not
    part of the latent space, so the metric is over the noise only.

    Args:
        name: the model's name in result files.
        nz: the noise size (the latent size).
        n_classes: the number of classes (the one-hot's length).
        class_names: the classes' names, in the one-hot's order.
        class_name: the class of every image (default: the first).
        ngf: generator feature maps.
        nc: image channels.
        resolution: the image side R.
        dropout: dropout probability of the published architecture (inactive: the model is in eval mode).
    """

    def __init__(self, *, name: str, nz: int, n_classes: int, class_names: tuple[str, ...],
                 class_name: str | None = None, ngf: int = 64, nc: int = 3, resolution: int = 128,
                 dropout: float = 0.0):
        super().__init__(name=name, latent_dim=nz, latent_space="z", resolution=resolution)
        from .. import checks
        self.class_names = tuple(class_names)
        class_name = class_name or self.class_names[0]
        checks.one_of("class_name", class_name, self.class_names, what="class name")
        self.class_name = class_name
        self.main = dcgan_stack(nz + n_classes, ngf, nc, resolution, dropout=dropout)
        onehot = torch.zeros(n_classes, device="cpu")
        onehot[self.class_names.index(class_name)] = 1.0
        self.register_buffer("onehot", onehot, persistent=False)
        self._body = FoldedStack(self.main)
        self.freeze()

    def map_options(self) -> dict:
        return {"class_name": self.class_name}

    def _generate(self, z):
        label = self.onehot.to(z.dtype).expand(z.shape[0], -1)
        return self._body(torch.cat([z, label], dim=1)[:, :, None, None])


#: ``pretrained=False`` builds the architecture with torch's default initialisation under this seed
RANDOM_INIT_SEED = 0


def _seeded(build):
    """``build()`` on the CPU under :data:`RANDOM_INIT_SEED` (:func:`~ganmetric.generators.base.cpu_init_seed`)."""
    with cpu_init_seed(RANDOM_INIT_SEED):
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
