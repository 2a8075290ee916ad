"""``unit:torchvision:MODEL:LAYER:CHANNEL[:Y:X]``: a unit of a torchvision classifier as an objective.

The score of an image is the mean over the spatial map of one channel of the output of
``LAYER`` (a module name of the torchvision model, e.g. ``features.10`` for AlexNet's conv5,
``layer3`` for ResNet-50), or with ``Y:X`` the single unit at that position; for a layer
without a spatial map (a fully connected layer, ``classifier.6``) CHANNEL is the unit.

Images in [-1, 1] are mapped to [0, 1], grey images repeated to RGB, resized to
224 x 224 (bilinear, antialiased) and normalised with the ImageNet mean and std, as
torchvision's classifiers expect. The whole generated image is resized to 224 rather than
resized to 256 and centre-cropped (torchvision's evaluation transform for photographs),
which would cut the border of the generator's frame. The network stops at ``LAYER`` (a
forward hook ends the pass there), so an early layer costs only the layers before it.

Weights (``weights``): ``pretrained`` (torchvision's ImageNet weights: downloaded or from
torch's cache), ``random`` / ``random:SEED`` (every convolution and linear layer drawn
uniformly from +-1/sqrt(fan_in) by a private generator seeded with SEED, 0 by default:
the same network on every run; batch norms keep their identity initialisation), or the
path of a state dict of that model (loaded strictly).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .. import checks
from ..errors import InputError, WeightsError
from ..io import load_torch_file, sha256_file
from .objectives import Objective

MODELS = ("alexnet", "vgg16", "resnet50")
"""Torchvision classifiers a unit objective may read."""
#: side of the square images the classifiers are fed
INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: layers listed in full in an error message up to this many; past it the top two levels are listed
MAX_LISTED = 45


class _Reached(Exception):
    """Raised by the forward hook to end the pass at the layer (nothing after it is needed)."""


def _parse(spec: str) -> tuple[str, str, int, tuple[int, int] | None]:
    """(model, layer, channel, (y, x) or None) of ``unit:torchvision:MODEL:LAYER:CHANNEL[:Y:X]``.

    Raises:
        InputError: any other form, or non-integer channel / position.
    """
    parts = spec.split(":")
    form = "unit:torchvision:MODEL:LAYER:CHANNEL or unit:torchvision:MODEL:LAYER:CHANNEL:Y:X"
    if len(parts) not in (5, 7) or parts[1] != "torchvision":
        raise InputError(f"a unit objective is written {form}, got {spec}", argument="objective")
    model = checks.one_of("objective", parts[2], MODELS, what="torchvision model")
    numbers = parts[4:]
    if not all(p.isdigit() for p in numbers):
        raise InputError(f"CHANNEL (and Y:X) of a unit objective must be non-negative integers, got "
                         f"{':'.join(numbers)} in {spec}", argument="objective")
    ints = [int(p) for p in numbers]
    return model, parts[3], ints[0], (ints[1], ints[2]) if len(ints) == 3 else None


def _seeded_init(net: torch.nn.Module, seed: int) -> None:
    """Weights and biases of every convolution and linear layer ~ U(+-1/sqrt(fan_in)), from ``seed``,
    in module order; every other module (batch norms) gets its own deterministic reset."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    with torch.no_grad():
        for module in net.modules():
            weight = getattr(module, "weight", None)
            if not isinstance(weight, torch.nn.Parameter) or weight.dim() < 2:
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()  # batch norm: weight 1, bias 0, running mean 0 and var 1
                continue
            bound = 1.0 / weight[0].numel() ** 0.5
            for p in (weight, getattr(module, "bias", None)):
                if isinstance(p, torch.nn.Parameter):
                    p.copy_((torch.rand(p.shape, generator=gen, device="cpu") * 2 - 1) * bound)


def _skeleton(model: str) -> torch.nn.Module:
    """The torchvision architecture on the meta device: shapes only, no memory, no initialisation cost."""
    import torchvision
    with torch.device("meta"):
        return torchvision.models.get_model(model, weights=None)


def _materialise(net: torch.nn.Module, model: str, weights: str):
    """Give the skeleton its weights (on the CPU); returns the weights record.

    Raises:
        InputError: a malformed ``random:SEED`` or a missing file.
        WeightsError: pretrained weights unavailable (offline), or a file that does not fit.
    """
    import torchvision
    from ..generators.base import load_state_strict

    spec = str(weights)
    if spec == "random" or spec.startswith("random:"):
        seed = spec.partition(":")[2] or "0"
        if not seed.isdigit() or int(seed) >= checks.SEED_LIMIT:
            raise InputError(f"objective_weights random:SEED needs an integer seed in [0, 2**63), got {spec}",
                             argument="objective_weights")
        net.to_empty(device="cpu")
        _seeded_init(net, int(seed))
        return f"random:{int(seed)}"
    if spec == "pretrained":
        try:
            state = torchvision.models.get_model_weights(model).DEFAULT.get_state_dict(progress=False)
        except Exception as exc:  # URLError / OSError offline, a broken download
            raise WeightsError(f"the torchvision {model} ImageNet weights could not be downloaded "
                               f"({type(exc).__name__}); offline, give {{objective_weights}} random (an untrained "
                               f"network drawn from a fixed seed) or the path of a state dict of torchvision's "
                               f"{model}", mentions=("objective_weights",)) from exc
        net.to_empty(device="cpu")
        load_state_strict(net, state, model, label="torchvision weights for")
        return "pretrained"
    path = Path(spec).expanduser()
    if not path.is_file():
        raise InputError(f"objective_weights must be pretrained, random, random:SEED or the path of a state dict "
                         f"of torchvision's {model}; file not found: {spec}", argument="objective_weights")
    state = load_torch_file(path, what=f"{model} weights file", argument="objective_weights")
    if not isinstance(state, dict):
        raise WeightsError(f"{path} must hold a {model} state dict (names -> tensors)")
    net.to_empty(device="cpu")
    load_state_strict(net, state, path, label=f"{model} weights")
    return {"path": str(path.resolve()), "sha256": sha256_file(path)}


def _layer(net: torch.nn.Module, model: str, name: str) -> torch.nn.Module:
    """The module called ``name``, or an InputError listing the valid names."""
    modules = {n: m for n, m in net.named_modules() if n}
    if name in modules:
        return modules[name]
    names = list(modules)
    if len(names) > MAX_LISTED:
        shallow = [n for n in names if n.count(".") <= 1]
        listed = ", ".join(shallow) + f", or a module inside them (e.g. {names[-3]})"
    else:
        listed = ", ".join(names)
    raise InputError(f"torchvision {model} has no layer {name}; its layers are: {listed}", argument="objective")


def _prepare(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as a classifier's input: RGB, 224 x 224, ImageNet-normalised."""
    x = (images + 1) / 2
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
    mean = x.new_tensor(IMAGENET_MEAN)[None, :, None, None]
    std = x.new_tensor(IMAGENET_STD)[None, :, None, None]
    return (x - mean) / std


def layer_output(net: torch.nn.Module, layer: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The output of ``layer`` for images in [-1, 1] (the pass stops there).

    Args:
        net: a torchvision classifier in eval mode.
        layer: one of its modules.
        images: (B, C, H, W) with C = 1 or 3.

    Returns:
        The layer's output, (B, C', H', W') or (B, F).
    """
    seen = []

    def hook(module, inputs, output):
        seen.append(output)
        raise _Reached

    handle = layer.register_forward_hook(hook)
    try:
        net(_prepare(images))
    except _Reached:
        pass
    finally:
        handle.remove()
    return seen[0]


def _check_unit(shape: tuple[int, ...], model: str, name: str, channel: int, yx) -> None:
    """Refuse a channel or position outside the layer's output (``shape`` without the batch)."""
    what = "channels" if len(shape) == 3 else "units"
    if channel >= shape[0]:
        raise InputError(f"layer {name} of torchvision {model} has {shape[0]} {what} (0-{shape[0] - 1}), "
                         f"got channel {channel}", argument="objective")
    if yx is None:
        return
    if len(shape) != 3:
        raise InputError(f"layer {name} of torchvision {model} has no spatial map (its output is {shape[0]} "
                         f"units): leave out Y:X", argument="objective")
    if not (yx[0] < shape[1] and yx[1] < shape[2]):
        raise InputError(f"layer {name} of torchvision {model} has a {shape[1]} x {shape[2]} map for "
                         f"{INPUT_SIZE} px inputs (Y 0-{shape[1] - 1}, X 0-{shape[2] - 1}), got {yx[0]}:{yx[1]}",
                         argument="objective")


def unit_objective(spec: str, *, weights: str = "pretrained", device="cpu") -> Objective:
    """The objective ``unit:torchvision:MODEL:LAYER:CHANNEL[:Y:X]`` (see the module docstring).

    Args:
        spec: the spec.
        weights: ``pretrained``, ``random``, ``random:SEED`` or a state-dict path.
        device: where the network runs (float32).

    Raises:
        InputError: a malformed spec, an unknown model, layer (the valid ones are listed),
            channel or position (the valid range is given), bad weights option.
        WeightsError: pretrained weights unavailable, or a file that does not fit.
    """
    model, name, channel, yx = _parse(spec)
    net = _skeleton(model).eval()
    layer = _layer(net, model, name)
    shape = tuple(int(s) for s in layer_output(net, layer, torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE,
                                                                       device="meta")).shape[1:])
    _check_unit(shape, model, name, channel, yx)  # all checked on shapes alone, before any weight exists
    record = _materialise(net, model, weights)
    net = net.to(device=checks.device(device), dtype=torch.float32)
    for p in net.parameters():
        p.requires_grad_(False)

    def score(images):
        act = layer_output(net, layer, images.to(dtype=torch.float32))[:, channel]
        if act.dim() == 1:
            return act
        return act.mean(dim=(1, 2)) if yx is None else act[:, yx[0], yx[1]]

    import torchvision
    where = "" if yx is None else f" at ({yx[0]}, {yx[1]})"
    which = "pretrained" if record == "pretrained" else (record if isinstance(record, str) else "weights file")
    return Objective(score, spec, {"kind": "unit", "spec": spec, "model": model, "layer": name, "channel": channel,
                                   "unit_yx": list(yx) if yx else None, "layer_shape": list(shape),
                                   "weights": record, "input_size": INPUT_SIZE,
                                   "torchvision": torchvision.__version__},
                     f"{model} {name} channel {channel}{where} ({which} weights)")

