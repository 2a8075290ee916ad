"""LPIPS (Zhang et al. 2018, v0.1 heads) written in its squared-feature form.

For backbone layer l with unit-normalised channel features f_l (C_l x H_l x W_l) and
the non-negative linear head weights w_l,

    d(x, y) = sum_l mean_{h,w} sum_c w_l[c] (f_l(x) - f_l(y))[c,h,w]^2
            = || features(x) - features(y) ||^2,   features = cat_l sqrt(w_l / (H_l W_l)) * f_l,

which equals ``lpips.LPIPS(...)(x, y)`` (tested). Inputs are images in [-1, 1], as LPIPS
expects; ``resize`` bilinearly resizes both to a square side first (the paper used 256).
"""
from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import InputError, WeightsError
from .base import Distance

BACKBONES = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


def _build_lpips(net: str, backbone: str):
    import lpips
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # torchvision's "pretrained is deprecated" noise from inside lpips
        if backbone == "pretrained":
            try:
                return lpips.LPIPS(net=net, pnet_rand=False, verbose=False)
            except OSError as exc:  # URLError offline, or a broken download
                raise WeightsError(
                    f"LPIPS {net} backbone weights (torchvision {BACKBONES[net]} ImageNet) could not be downloaded "
                    f"({exc.__class__.__name__}); offline, use lpips_backbone='random' (untrained backbone, for tests) "
                    f"or a local path to a torchvision {BACKBONES[net]} state dict") from exc
        model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    if backbone != "random":
        _load_backbone(model, net, Path(backbone))
    return model


def _load_backbone(model, net: str, path: Path) -> None:
    """Load a torchvision state dict (keys ``features.N.weight``) into lpips' sliced backbone."""
    if not path.is_file():
        raise InputError(f"lpips_backbone must be 'pretrained', 'random' or a path to a torchvision "
                         f"{BACKBONES[net]} state dict; file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read LPIPS backbone weights {path}: {exc}") from exc
    own = {}
    for slice_name, sl in model.net.named_children():
        for pname, p in sl.named_parameters():
            own[f"features.{pname}"] = p
    missing = [k for k in own if k not in state]
    if missing:
        raise WeightsError(f"{path} is not a torchvision {BACKBONES[net]} state dict (missing {missing[0]})")
    with torch.no_grad():
        for k, p in own.items():
            if state[k].shape != p.shape:
                raise WeightsError(f"{path}: {k} has shape {tuple(state[k].shape)}, expected {tuple(p.shape)}")
            p.copy_(state[k])


class LPIPSDistance(Distance):
    """LPIPS with backbone ``net`` in {alex, vgg, squeeze}.

    Args:
        net: backbone.
        backbone: "pretrained" (torchvision ImageNet weights, downloaded or cached),
            "random" (untrained backbone, for tests and offline use), or a path to a
            torchvision state dict of the backbone.
        resize: if given, both images are resized to (resize, resize) first.
        eps: normalisation epsilon, as in lpips.

    Raises:
        InputError: unknown backbone spec or bad resize.
        WeightsError: pretrained weights unavailable, or a bad state dict.
    """

    has_features = True

    def __init__(self, net: str = "alex", backbone: str = "pretrained", resize: int | None = None,
                 eps: float = 1e-10):
        if resize is not None and (isinstance(resize, bool) or not isinstance(resize, int) or resize < 16):
            raise InputError(f"resize must be an integer side of at least 16 pixels, got {resize!r}")
        super().__init__(f"lpips-{net}", {"backbone": str(backbone), "resize": resize, "version": "0.1"})
        self.lpips = _build_lpips(net, str(backbone))
        self.resize = resize
        self.eps = eps
        for k, lin in enumerate(self.lpips.lins):
            w = lin.model[-1].weight.detach().flatten()
            if (w < 0).any():
                raise WeightsError("LPIPS linear head has negative weights; the squared-feature form needs w >= 0")
            self.register_buffer(f"sqrt_w{k}", w.sqrt(), persistent=False)
        self.freeze()

    def features(self, x):
        if self.resize is not None and tuple(x.shape[-2:]) != (self.resize, self.resize):
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
        outs = self.lpips.net(self.lpips.scaling_layer(x))
        feats = []
        for k, f in enumerate(outs):
            f = f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps)
            scale = getattr(self, f"sqrt_w{k}").to(f.dtype) / (f.shape[-1] * f.shape[-2]) ** 0.5
            feats.append((f * scale[None, :, None, None]).flatten(1))
        return torch.cat(feats, dim=1)
