"""Checkpoints of the paper's other generators in their published formats, and float64 references written
from the authors' formulas (independently of ganmetric's modules), for tests."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from helpers import ROOT

#: the reference fixtures made with each repository's own code (absent outside the team's machines)
ZOO = ROOT.parent / "shared" / "fixtures" / "zoo"

#: DeePSim's transposed convolutions after the first stage: (name, kernel, stride, padding)
DEEPSIM_DECONVS = [("deconv5", 4, 2, 1), ("conv5_1", 3, 1, 1), ("deconv4", 4, 2, 1), ("conv4_1", 3, 1, 1),
                   ("deconv3", 4, 2, 1), ("conv3_1", 3, 1, 1), ("deconv2", 4, 2, 1), ("deconv1", 4, 2, 1),
                   ("deconv0", 4, 2, 1)]
#: the authors' widths, 256 ... 3
DEEPSIM_WIDTHS = [256, 512, 256, 256, 128, 128, 64, 32, 3]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def deepsim_state(variant: str = "fc6", *, code: int = 24, fc: int = 32, widths=None, seed: int = 0,
                  last_scale: float = 400.0) -> dict:
    """A DeePSim state dict with the authors' keys and order, narrow by default (full size: code=4096, fc=4096,
    widths=DEEPSIM_WIDTHS). ``fc`` is the width of defc7/defc6 (defc5 is 16 x deconv5's input channels)."""
    g = _gen(seed)
    widths = widths or [8, 12, 8, 8, 6, 6, 4, 4, 3]
    state = {}
    if variant == "pool5":
        c_in = code
        for n, c_out in (("Rconv6", 12), ("Rconv7", 12), ("Rconv8", widths[0])):
            state[f"{n}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=g) * math.sqrt(2 / (9 * c_in))
            state[f"{n}.bias"] = 0.1 * torch.randn(c_out, generator=g)
            c_in = c_out
        c_in = widths[0]
    else:
        f_in = code
        for n, f_out in (("defc7", fc), ("defc6", fc), ("defc5", 16 * widths[0])):
            state[f"{n}.weight"] = torch.randn(f_out, f_in, generator=g) * math.sqrt(2 / f_in)
            state[f"{n}.bias"] = 0.1 * torch.randn(f_out, generator=g)
            f_in = f_out
        c_in = widths[0]
    for (n, k, s, _), c_out in zip(DEEPSIM_DECONVS, widths):
        state[f"{n}.weight"] = torch.randn(c_in, c_out, k, k, generator=g) * math.sqrt(2 * s * s / (c_in * k * k))
        state[f"{n}.bias"] = 0.1 * torch.randn(c_out, generator=g)
        c_in = c_out
    state["deconv0.weight"] = state["deconv0.weight"] * last_scale  # raw output in pixel units: the clamp acts
    return state


def deepsim_reference(state: dict, z: torch.Tensor, *, clamp: bool = True) -> torch.Tensor:
    """The authors' ``2 * visualize(z) - 1`` in float64: BGR -> RGB, + (123, 117, 104), clamp [0, 255], / 255."""
    sd = {k: v.double() for k, v in state.items()}
    leaky = lambda t: F.leaky_relu(t, 0.3)  # noqa: E731
    x = z.double()
    if "Rconv6.weight" in sd:
        x = x.reshape(x.shape[0], sd["Rconv6.weight"].shape[1], 6, 6)
        for n, pad in (("Rconv6", 1), ("Rconv7", 1), ("Rconv8", 0)):
            x = leaky(F.conv2d(x, sd[f"{n}.weight"], sd[f"{n}.bias"], padding=pad))
    else:
        for n in ("defc7", "defc6", "defc5"):
            x = leaky(x @ sd[f"{n}.weight"].T + sd[f"{n}.bias"])
        x = x.reshape(x.shape[0], -1, 4, 4)
    for i, (n, _, s, p) in enumerate(DEEPSIM_DECONVS):
        x = F.conv_transpose2d(x, sd[f"{n}.weight"], sd[f"{n}.bias"], stride=s, padding=p)
        if i < len(DEEPSIM_DECONVS) - 1:
            x = leaky(x)
    rgb = x[:, [2, 1, 0]] + torch.tensor([123.0, 117.0, 104.0], dtype=torch.float64).reshape(1, 3, 1, 1)
    vis = (rgb.clamp(0, 255) if clamp else rgb) / 255.0
    return vis * 2 - 1


def pggan_parts(*, latent: int = 8, depths=(8, 8, 6), out: int = 3, seed: int = 0, legacy: bool = False):
    """(config, avgG state dict) of a pytorch_GAN_zoo PGAN (tiny by default): N(0, 1) equalized weights (the
    repository's initialisation), biases N(0, 0.3^2)."""
    g = _gen(seed)
    config = {"latentVectorDim": latent, "noiseVectorDim": latent, "depthScale0": depths[0],
              "depthOtherScales": list(depths[1:]), "dimOutput": out, "leakyReluLeak": 0.2,
              "perChannelNormalization": True, "equalizedlR": True, "alpha": 0, "lossCriterion": "WGANGP",
              "miniBatchStdDev": True, "initBiasToZero": True, "attribKeysOrder": None, "learningRate": 0.001}
    shapes = {"formatLayer": (16 * depths[0], latent), "groupScale0.0": (depths[0], depths[0], 3, 3)}
    for i, (a, b) in enumerate(zip(depths[:-1], depths[1:])):
        shapes[f"scaleLayers.{i}.0"], shapes[f"scaleLayers.{i}.1"] = (b, a, 3, 3), (b, b, 3, 3)
    for i, d in enumerate(depths):
        shapes[f"toRGBLayers.{i}"] = (out, d, 1, 1)
    mid = "." if legacy else ".module."
    state = {}
    for name, shape in shapes.items():
        state[f"{name}{mid}weight"] = torch.randn(*shape, generator=g)
        state[f"{name}{mid}bias"] = 0.3 * torch.randn(shape[0], generator=g)
    return config, state


def pggan_reference(config: dict, state: dict, z: torch.Tensor) -> torch.Tensor:
    """pytorch_GAN_zoo's ``GNet.forward`` in float64 with the He constant applied after each layer, as
    ``ConstrainedLayer`` does (bias included)."""
    sd = {k.replace(".module.", "."): v.double() for k, v in state.items()}
    leak = config["leakyReluLeak"]

    def layer(name, x):
        w, b = sd[f"{name}.weight"], sd[f"{name}.bias"]
        c = math.sqrt(2.0 / math.prod(w.shape[1:]))
        y = x @ w.T + b if w.dim() == 2 else F.conv2d(x, w, b, padding=w.shape[-1] // 2)
        return y * c

    def norm(x):
        return x * ((x ** 2).mean(dim=1, keepdim=True) + 1e-8).rsqrt()

    def up(x):
        return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)

    alpha, n_up = float(config["alpha"]), len(config["depthOtherScales"])
    x = norm(z.double())
    x = F.leaky_relu(layer("formatLayer", x), leak).reshape(z.shape[0], -1, 4, 4)
    x = norm(x)
    x = norm(F.leaky_relu(layer("groupScale0.0", x), leak))
    y = up(layer(f"toRGBLayers.{n_up - 1}", x)) if alpha > 0 and n_up == 1 else None
    for i in range(n_up):
        x = up(x)
        for j in range(2):
            x = norm(F.leaky_relu(layer(f"scaleLayers.{i}.{j}", x), leak))
        if alpha > 0 and i == n_up - 2:
            y = up(layer(f"toRGBLayers.{n_up - 1}", x))
    x = layer(f"toRGBLayers.{n_up}", x)
    if alpha > 0:
        x = alpha * y + (1 - alpha) * x
    return torch.tanh(x) if config["lossCriterion"] in ("MSE", "DCGAN") else x


def dcgan_parts(*, latent: int = 10, dim_g: int = 4, depth: int = 2, seed: int = 0, std: float = 0.3):
    """(config, avgG state dict) of a pytorch_GAN_zoo DCGAN (tiny by default), weights N(0, std^2), BatchNorm
    affine parameters and statistics away from 1 and 0."""
    g = _gen(seed)
    config = {"latentVectorDim": latent, "noiseVectorDim": latent, "dimG": dim_g, "dimD": dim_g, "depth": depth,
              "dimOutput": 3, "lossCriterion": "DCGAN", "attribKeysOrder": None, "learningRate": 0.0002}
    width = dim_g * 2 ** depth
    state = {"formatLayer.weight": std * torch.randn(latent, width, 4, 4, generator=g)}
    for i in range(depth + 1):
        c = width if i == 0 else width // 2
        if i:
            state[f"main.convTranspose{i}.weight"] = std * torch.randn(width, c, 4, 4, generator=g)
            width = c
        state[f"main.batchNorm{i}.weight"] = 1 + 0.2 * torch.randn(c, generator=g)
        state[f"main.batchNorm{i}.bias"] = 0.2 * torch.randn(c, generator=g)
        state[f"main.batchNorm{i}.running_mean"] = 0.3 * torch.randn(c, generator=g)
        state[f"main.batchNorm{i}.running_var"] = 0.5 + torch.rand(c, generator=g)
        state[f"main.batchNorm{i}.num_batches_tracked"] = torch.tensor(7)
    state["main.outlayer.weight"] = std * torch.randn(dim_g, 3, 4, 4, generator=g)
    return config, state


def dcgan_reference(config: dict, state: dict, z: torch.Tensor) -> torch.Tensor:
    """``DCGAN_nets.GNet.forward`` in eval mode, float64."""
    sd = {k: v.double() for k, v in state.items()}
    x = F.conv_transpose2d(z.double()[:, :, None, None], sd["formatLayer.weight"])
    for i in range(config["depth"] + 1):
        if i:
            x = F.conv_transpose2d(x, sd[f"main.convTranspose{i}.weight"], stride=2, padding=1)
        p = f"main.batchNorm{i}."
        x = (x - sd[p + "running_mean"][:, None, None]) / torch.sqrt(sd[p + "running_var"][:, None, None] + 1e-5)
        x = torch.relu(x * sd[p + "weight"][:, None, None] + sd[p + "bias"][:, None, None])
    x = F.conv_transpose2d(x, sd["main.outlayer.weight"], stride=2, padding=1)
    return torch.tanh(x)


def rel_err(got: torch.Tensor, ref) -> float:
    """max |got - ref| / max |ref| (float64)."""
    ref = torch.as_tensor(ref, dtype=torch.float64)
    return float((got.detach().double().reshape(ref.shape) - ref).abs().max() / ref.abs().max())
