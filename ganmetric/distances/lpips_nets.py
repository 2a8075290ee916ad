"""LPIPS's networks built here: the sliced backbones, the input scaling and the v0.1 linear heads.

``import lpips`` imports torchvision, whose ops import ``torch._dynamo`` and sympy: about 2 s
in a fresh process, for three small convolution stacks. This module builds torchvision's
AlexNet, VGG16 and SqueezeNet 1.1 ``features`` cut into lpips' slices (``lpips.pretrained_networks``)
without importing either package. Slice ``k`` holds ``features[i]`` under the name ``str(i)``,
as lpips' slices do, so a torchvision state dict's ``features.N.*`` keys and lpips' own
``sliceK.N.*`` keys both name the same parameters. The linear heads are read from the lpips
package's weight files, found without importing it.
"""
from __future__ import annotations

import importlib.util
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from ..io import load_torch_file

#: torchvision's ImageNet weights (the IMAGENET1K_V1 entries of its weights enums): torch.hub caches
#: them under the file name of the URL, so a file torchvision downloaded before is found and reused
URLS = {"alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
        "squeeze": "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"}

#: lpips' cut points: slice k is ``features[CUTS[k]:CUTS[k + 1]]``, its output the k-th feature map
CUTS = {"alex": (0, 2, 5, 8, 10, 12), "vgg": (0, 4, 9, 16, 23, 30), "squeeze": (0, 2, 5, 8, 10, 11, 12, 13)}

#: lpips' ScalingLayer constants: ``(x - shift) / scale`` maps [-1, 1] images to ImageNet's statistics
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` whose parameters are allocated, not initialised.

    Every path that builds a backbone sets all of its parameters afterwards (seeded draws, a
    state dict), so torch's default init would be wasted time and draws from the global RNG.
    (Building on the meta device and moving with ``to_empty`` would import sympy.)
    """

    def reset_parameters(self) -> None:
        pass


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    return Conv2d(c_in, c_out, kernel, stride=stride, padding=padding)


class Fire(nn.Module):
    """SqueezeNet's fire module: a 1x1 squeeze, then 1x1 and 3x3 expands concatenated on channels.

    Children are named as torchvision's (``squeeze``, ``expand1x1``, ``expand3x3`` and their
    ``*_activation``), registered in its order; the ReLUs run out of place.
    """

    def __init__(self, c_in: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        self.squeeze = _conv(c_in, squeeze, 1)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = _conv(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = _conv(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], dim=1)


def _alexnet_features() -> list[nn.Module]:
    return [_conv(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2),
            _conv(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2),
            _conv(192, 384, 3, padding=1), nn.ReLU(),
            _conv(384, 256, 3, padding=1), nn.ReLU(),
            _conv(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2)]


def _vgg16_features() -> list[nn.Module]:
    layers, c_in = [], 3
    for width in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if width == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
        else:
            layers += [_conv(c_in, width, 3, padding=1), nn.ReLU()]
            c_in = width
    return layers


def _squeezenet1_1_features() -> list[nn.Module]:
    pool = lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True)  # noqa: E731
    return [_conv(3, 64, 3, stride=2), nn.ReLU(), pool(),
            Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
            Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256)]


FEATURES = {"alex": _alexnet_features, "vgg": _vgg16_features, "squeeze": _squeezenet1_1_features}


class Backbone(nn.Module):
    """A backbone's ``features`` cut into lpips' slices ``slice1 .. slice{N_slices}``.

    Parameters are allocated but not initialised: the caller sets every one of them.
    ``forward(x)`` returns the list of every slice's output, as lpips' networks do.
    """

    def __init__(self, net: str):
        super().__init__()
        layers, cuts = FEATURES[net](), CUTS[net]
        self.N_slices = len(cuts) - 1
        for k in range(self.N_slices):
            part = OrderedDict((str(i), layers[i]) for i in range(cuts[k], cuts[k + 1]))
            setattr(self, f"slice{k + 1}", nn.Sequential(part))
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for k in range(self.N_slices):
            x = getattr(self, f"slice{k + 1}")(x)
            outs.append(x)
        return outs


class ScalingLayer(nn.Module):
    """lpips' input scaling ``(x - shift) / scale``; float32 buffers, as lpips makes them."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor(SHIFT, dtype=torch.float32, device="cpu")[None, :, None, None])
        self.register_buffer("scale", torch.tensor(SCALE, dtype=torch.float32, device="cpu")[None, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class LPIPSNet(nn.Module):
    """What LPIPS needs besides its heads: ``net`` (the sliced :class:`Backbone`) and ``scaling_layer``."""

    def __init__(self, net: str):
        super().__init__()
        self.scaling_layer = ScalingLayer()
        self.net = Backbone(net)


def head_weights(net: str) -> list[torch.Tensor]:
    """The v0.1 linear heads of backbone ``net``: one (C_l,) weight vector per slice.

    Read from ``lpips/weights/v0.1/{net}.pth`` in the installed lpips package, located with
    ``importlib.util.find_spec`` (which does not import it: importing it imports torchvision).

    Raises:
        WeightsError: lpips is not installed, or its weight file is missing or not a state dict
            of the heads.
    """
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("the LPIPS linear head weights ship with the lpips package, which is not installed "
                           "(pip install lpips)")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "v0.1" / f"{net}.pth"
    if not path.is_file():
        raise WeightsError(f"the LPIPS {net} linear head file is missing from the lpips package: {path}")
    state = load_torch_file(path, what="LPIPS linear head file")
    keys = [f"lin{k}.model.1.weight" for k in range(len(CUTS[net]) - 1)]
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise WeightsError(f"{path} does not hold the LPIPS {net} linear heads ({', '.join(keys)})")
    return [state[k].flatten() for k in keys]
