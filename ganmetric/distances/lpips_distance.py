"""LPIPS (Zhang et al. 2018, v0.1 heads) written in its squared-feature form.

For backbone layer l with unit-normalised channel features f_l (C_l x H_l x W_l) and
the non-negative linear head weights w_l,

    d(x, y) = sum_l mean_{h,w} sum_c w_l[c] (f_l(x) - f_l(y))[c,h,w]^2
            = || features(x) - features(y) ||^2,   features = cat_l sqrt(w_l / (H_l W_l)) * f_l,

which equals ``lpips.LPIPS(...)(x, y)`` (tested). Inputs are images in [-1, 1], as LPIPS
expects; ``resize`` bilinearly resizes both to a square side first (the paper used 256).

Computed in a form that keeps constants out of the tangent path of forward-mode products
(under ``vmap(jvp(...))`` an elementwise op between a tangent and a constant runs a Python
decomposition: a pass over every tangent, and on its first call an import of
``torch._dynamo``, about 2 s): lpips' input scaling ``(x - shift) / scale`` is folded into
the first backbone convolution (its zero padding becomes padding with ``shift``, so the
fold is exact at the borders too), and the unit normalisation and the head weights are one
fused operation with its own forward-mode rule (:class:`WeightedUnit`). The backbone's
ReLUs run out of place (an in-place ReLU costs a copy of every tangent under forward mode).

The networks (backbone slices, scaling constants, heads) come from :mod:`.lpips_nets`, which
builds them without importing lpips or torchvision (their import costs about 2 s).
"""
from __future__ import annotations

import numbers
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks
from ..errors import InputError, WeightsError
from ..io import describe_file, load_torch_file, sha256_file
from .base import Distance
from .registry import DistanceOption, register_distance
from .lpips_nets import URLS, LPIPSNet, head_weights

BACKBONES = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}
#: smallest image side each backbone's pooling stack accepts (measured on 8..80 px squares)
MIN_SIDE = {"alex": 31, "vgg": 16, "squeeze": 17}


def parse_backbone(backbone) -> tuple[str, int | Path | None]:
    """``"pretrained"``, ``"random"`` (seed 0), ``"random:SEED"`` or a path -> (kind, seed or path).

    Raises:
        InputError: a malformed ``random:SEED`` or a path that does not exist.
    """
    spec = str(backbone)
    if spec == "pretrained":
        return "pretrained", None
    if spec == "random" or spec.startswith("random:"):
        seed = spec.partition(":")[2] or "0"
        if not seed.isdigit() or int(seed) >= checks.SEED_LIMIT:
            raise InputError(f"the LPIPS backbone random:SEED needs an integer seed in [0, 2**63), got {spec}",
                             argument="lpips_backbone")
        return "random", int(seed)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise InputError(f"the LPIPS backbone must be pretrained, random, random:SEED or the path of a torchvision "
                         f"state dict; file not found: {spec}", argument="lpips_backbone")
    return "file", path


def _check_backbone(backbone) -> str:
    """A backbone spec the builder takes (see :func:`parse_backbone`), as a string."""
    parse_backbone(backbone)
    return str(backbone)


def _check_resize(resize) -> int:
    """An image side (an integer; each backbone's own minimum is checked by :class:`LPIPSDistance`)."""
    if isinstance(resize, bool) or not isinstance(resize, numbers.Integral):
        raise InputError(f"resize must be an integer side in pixels, got {resize}", argument="resize")
    return int(resize)


def _describe_backbone(record) -> str | None:
    if isinstance(record, str) and record.startswith("random"):
        return f"random backbone, seed {record.partition(':')[2] or 0}"
    if isinstance(record, dict):
        return f"backbone {record.get('path')}"
    return None


def _same_backbone(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.get("sha256") == b.get("sha256")
    if a == "random" or b == "random":  # files written before random backbones were seeded
        return False
    return a == b


#: the options of the LPIPS distances (one flag each on the command line)
OPTIONS = (
    DistanceOption("lpips_backbone", record_key="backbone", default="pretrained", check=_check_backbone, file=True,
                   label="LPIPS backbone", same=_same_backbone, describe=_describe_backbone,
                   help="LPIPS backbone weights: 'pretrained' (torchvision ImageNet, needs the network or torch's "
                        "cache; the default), 'random' or 'random:SEED' (an untrained backbone drawn from the seed, 0 "
                        "by default: the same every run; for tests and offline use), or the path of a torchvision "
                        "state dict."),
    DistanceOption("resize", type=int, check=_check_resize,
                   describe=lambda side: f"resized to {side} px" if side else None,
                   help="Resize images to this square side first (the paper used 256; needed below 31 px for alex, "
                        "16 for vgg, 17 for squeeze)."),
)


def _build(spec: str, *, lpips_backbone: str, resize: int | None) -> "LPIPSDistance":
    return LPIPSDistance(spec.split("-", 1)[1], backbone=lpips_backbone, resize=resize)


for _net, _backbone in BACKBONES.items():
    register_distance(f"lpips-{_net}", options=OPTIONS, help=f"LPIPS (v0.1) on {_backbone} features")(_build)


def _build_lpips(net: str, kind: str, arg) -> LPIPSNet:
    """lpips' scaling layer and sliced backbone, the backbone from ``kind`` (see :func:`parse_backbone`)."""
    model = LPIPSNet(net)
    if kind == "pretrained":
        _download_backbone(model, net)
    elif kind == "random":
        _seeded_backbone(model, arg)
    else:
        _load_backbone(model, net, arg)
    return model


def _download_backbone(model: LPIPSNet, net: str) -> None:
    """torchvision's ImageNet weights, from torch hub's cache or downloaded into it (as torchvision does)."""
    try:
        state = torch.hub.load_state_dict_from_url(URLS[net], check_hash=True, weights_only=True)
    except OSError as exc:  # URLError offline, or a broken download
        raise WeightsError(
            f"the LPIPS {net} backbone weights (torchvision {BACKBONES[net]} ImageNet) could not be "
            f"downloaded ({exc.__class__.__name__}); offline, give {{lpips_backbone}} random (an untrained "
            f"backbone with a fixed seed, for tests) or the path of a torchvision {BACKBONES[net]} state "
            f"dict you have", mentions=("lpips_backbone",)) from exc
    _copy_features(model, net, state, URLS[net])


def _seeded_backbone(model, seed: int) -> None:
    """Set every backbone parameter from a private generator seeded with ``seed``.

    Each layer's weight and bias are drawn uniformly from ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``
    (PyTorch's default range for convolutions), layer by layer in module order, so the
    random backbone is a fixed function of the seed (the same draws as when the backbone
    came from torchvision through lpips: the module order is torchvision's).
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    with torch.no_grad():
        for module in model.net.modules():
            weight = getattr(module, "weight", None)
            if not isinstance(weight, torch.nn.Parameter) or weight.dim() < 2:
                continue
            bound = 1.0 / weight[0].numel() ** 0.5
            for p in (weight, getattr(module, "bias", None)):
                if isinstance(p, torch.nn.Parameter):
                    p.copy_((torch.rand(p.shape, generator=gen, dtype=torch.float64, device="cpu") * 2 - 1) * bound)


def _load_backbone(model, net: str, path: Path) -> None:
    """Load a torchvision state dict (keys ``features.N.weight``) into lpips' sliced backbone."""
    state = load_torch_file(path, what="LPIPS backbone file")
    if not isinstance(state, dict):
        raise WeightsError(f"{path} is {describe_file(path) or 'not a state dict'}, not a torchvision "
                           f"{BACKBONES[net]} state dict")
    _copy_features(model, net, state, path)


def _copy_features(model, net: str, state: dict, source) -> None:
    """Copy a torchvision state dict's ``features.N.*`` tensors into the sliced backbone (every one needed)."""
    own = {}
    for slice_name, sl in model.net.named_children():
        for pname, p in sl.named_parameters():
            own[f"features.{pname}"] = p
    missing = [k for k in own if k not in state]
    if missing:
        raise WeightsError(f"{source} is not a torchvision {BACKBONES[net]} state dict (missing {missing[0]})")
    with torch.no_grad():
        for k, p in own.items():
            if state[k].shape != p.shape:
                raise WeightsError(f"{source}: {k} has shape {tuple(state[k].shape)}, expected {tuple(p.shape)}")
            p.copy_(state[k])


class WeightedUnit(torch.autograd.Function):
    """``u = s * f / (|f| + eps)``, the norm over channels (dim 1), with fused derivative rules.

    ``f`` (B, C, H, W) are backbone features; ``s`` (1, C, 1, 1) constant channel weights.
    With ``n = |f|`` and ``d = n + eps`` both derivatives are one projection,
    ``P(v) = (v - f (f . v) / (n d)) / d``: the tangent is ``s P(f_t)``, the cotangent
    ``P(s g)``. Written with torch ops (the backward is differentiable, for double backward)
    and ``generate_vmap_rule``, so ``vmap``, ``jvp``, ``vjp`` and their compositions work.
    At a pixel where f = 0 the rule gives the true limit ``s f_t / eps`` (n is clamped in
    the projection's second term, which vanishes there).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(f, s, eps):
        return f * (s / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + eps))

    @staticmethod
    def setup_context(ctx, inputs, output):
        f, s, eps = inputs
        ctx.save_for_backward(f, s)
        ctx.save_for_forward(f, s, output)
        ctx.eps = eps

    @staticmethod
    def _project(f, v, eps):
        n = f.pow(2).sum(dim=1, keepdim=True).sqrt()
        d = n + eps
        along = (f * v).sum(dim=1, keepdim=True) / (n.clamp_min(torch.finfo(f.dtype).tiny) * d)
        return (v - f * along) / d

    @staticmethod
    def jvp(ctx, f_t, s_t, eps_t):
        # s P(f_t) = (s / d) f_t - u (f . f_t) / (n d), u = s f / d the output: everything but the
        # tangents is the primal's (one code under vmap), so the batched tangents see one product
        # with a sum over channels and one fused multiply-add (3 passes over them, not 5)
        f, s, u = ctx.saved_tensors
        n = f.pow(2).sum(dim=1, keepdim=True).sqrt()
        d = n + ctx.eps
        along = (f_t * (f / (n.clamp_min(torch.finfo(f.dtype).tiny) * d))).sum(dim=1, keepdim=True)
        return torch.addcmul(f_t * (s / d), u, along, value=-1)

    @staticmethod
    def backward(ctx, g):
        f, s = ctx.saved_tensors
        return WeightedUnit._project(f, s * g, ctx.eps), None, None


def _pad_with(x: torch.Tensor, fill: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """``x`` (B, C, H, W) padded by ``padding`` (rows, columns) with the per-channel values ``fill`` (C,)."""
    ph, pw = padding
    if ph:
        rows = fill.view(1, -1, 1, 1).expand(x.shape[0], -1, ph, x.shape[3])
        x = torch.cat([rows, x, rows], dim=2)
    if pw:
        cols = fill.view(1, -1, 1, 1).expand(x.shape[0], -1, x.shape[2], pw)
        x = torch.cat([cols, x, cols], dim=3)
    return x


class LPIPSDistance(Distance):
    """LPIPS with backbone ``net`` in {alex, vgg, squeeze}.

    Args:
        net: backbone.
        backbone: "pretrained" (torchvision ImageNet weights, downloaded or cached),
            "random" or "random:SEED" (an untrained backbone drawn from the seed, 0 by
            default: the same weights on every run; for tests and offline use), or a path to
            a torchvision state dict of the backbone. The distance's ``options["backbone"]``
            records which: "pretrained", "random:SEED", or ``{"path", "sha256"}``.
        resize: if given, both images are resized to (resize, resize) first.
        eps: normalisation epsilon, as in lpips.

    Raises:
        InputError: unknown backbone spec or bad resize.
        WeightsError: pretrained weights unavailable, a bad state dict, or the lpips package
            (which ships the linear heads' weight files) not installed.
    """

    has_features = True

    def __init__(self, net: str = "alex", backbone: str = "pretrained", resize: int | None = None,
                 eps: float = 1e-10):
        if resize is not None and (isinstance(resize, bool) or not isinstance(resize, int) or resize < MIN_SIDE[net]):
            raise InputError(f"resize must be an integer side of at least {MIN_SIDE[net]} pixels for LPIPS {net}, "
                             f"got {resize}", argument="resize")
        kind, arg = parse_backbone(backbone)
        record = {"pretrained": "pretrained", "random": f"random:{arg}",
                  "file": {"path": str(Path(arg).resolve()), "sha256": sha256_file(arg)} if kind == "file" else None}
        super().__init__(f"lpips-{net}", {"backbone": record[kind], "resize": resize, "version": "0.1"})
        self.lpips = _build_lpips(net, kind, arg)
        self.backbone_net = net
        self.resize = resize
        self.eps = eps
        for k, w in enumerate(head_weights(net)):
            if (w < 0).any():
                raise WeightsError("LPIPS linear head has negative weights; the squared-feature form needs w >= 0")
            # the weights as lpips stores them (float32); their square roots are taken in the
            # features' dtype, so a float64 distance is exact to float64, not to a float32 sqrt
            self.register_buffer(f"head{k}", w, persistent=False)
        self._fold_key, self._fold = None, None
        self.freeze()

    def freeze(self) -> "LPIPSDistance":
        super().freeze()
        self._input_conv()  # fold now, not inside the first differentiated pass
        return self

    def features(self, x):
        if self.resize is None and min(x.shape[-2:]) < MIN_SIDE[self.backbone_net]:
            raise InputError(f"LPIPS {self.backbone_net} needs images of at least {MIN_SIDE[self.backbone_net]} pixels "
                             f"a side, got {x.shape[-2]}x{x.shape[-1]}; have them resized first (resize, e.g. 64)",
                             argument="resize")
        if self.resize is not None and tuple(x.shape[-2:]) != (self.resize, self.resize):
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
        feats = []
        for k, f in enumerate(self._backbone(x)):
            scale = getattr(self, f"head{k}").to(f.dtype).sqrt() / (f.shape[-1] * f.shape[-2]) ** 0.5
            feats.append(WeightedUnit.apply(f, scale[None, :, None, None], self.eps).flatten(1))
        return torch.cat(feats, dim=1)

    def _backbone(self, x: torch.Tensor) -> list[torch.Tensor]:
        """lpips' ``net(scaling_layer(x))``: the outputs of every slice, with the scaling folded
        into the first convolution and the ReLUs out of place."""
        net = self.lpips.net
        weight, bias, shift = self._input_conv()
        first = net.slice1[0]
        h, outs = x, []
        for k in range(net.N_slices):
            for m in getattr(net, f"slice{k + 1}"):
                if m is first:
                    h = F.conv2d(_pad_with(h, shift.to(h.dtype), first.padding), weight, bias, first.stride, 0,
                                 first.dilation, first.groups)
                elif isinstance(m, nn.ReLU):
                    h = torch.relu(h)
                else:
                    h = m(h)
            outs.append(h)
        return outs

    def _input_conv(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The first backbone convolution with lpips' input scaling folded in: (weight, bias, shift).

        ``conv(pad0((x - shift) / scale))`` equals ``conv'(pad_shift(x))`` with
        ``W' = W / scale`` (per input channel) and ``b' = b - sum W' shift``; recomputed when
        the convolution's or the scaling layer's tensors change (new weights, another dtype).
        """
        conv, scaling = self.lpips.net.slice1[0], self.lpips.scaling_layer
        tensors = [t for t in (conv.weight, conv.bias, scaling.shift, scaling.scale) if t is not None]
        key = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)
        if key != self._fold_key:
            with torch.no_grad():
                shift = scaling.shift.flatten().to(conv.weight.dtype)
                weight = conv.weight / scaling.scale.flatten().to(conv.weight.dtype)[None, :, None, None]
                bias = conv.bias if conv.bias is not None else weight.new_zeros(weight.shape[0])
                bias = bias - (weight * shift[None, :, None, None]).sum(dim=(1, 2, 3))
            self._fold, self._fold_key = (weight, bias, shift), key
        return self._fold
