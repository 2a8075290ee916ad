"""StyleGAN2 (Karras et al. 2020) in the latent spaces ``z``, ``w`` and ``w+``.

Loads checkpoints in the rosinality ``stylegan2-pytorch`` format: a dict
``{"g_ema": state_dict, "latent_avg": (style_dim,), ...}`` (training checkpoints with
``g``, ``d``, optimiser states and ``args`` load too; only ``g_ema`` is used), or a bare
generator state dict. Resolution, style size, number of mapping layers, channel widths
and output channels are read off the tensor shapes, so custom-trained and small
checkpoints load; every key must fit (strict loading, no key silently ignored).

Latent spaces (``n_latent = 2 log2(resolution) - 2`` styles):

- ``z`` (style_dim): ``G(z) = synthesis(repeat(mapping(z)))``;
- ``w`` (style_dim): ``G(w) = synthesis(repeat(w))``;
- ``w+`` (n_latent * style_dim): one style per layer, rows flattened row-major
  (entries ``k * style_dim : (k + 1) * style_dim`` feed layer k).

Truncation ``psi`` is part of the mapping, ``mapping(z) = avg + psi (MLP(z) - avg)``
(``avg`` = the checkpoint's ``latent_avg``), so it acts on ``z`` codes and on codes drawn
by ``sample``; ``w``/``w+`` codes are used as given. Noise inputs are the stored
``noises.noise_k`` buffers, so the generator is a deterministic function of its code.
"""
from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import torch

from .. import checks
from ..errors import InputError, WeightsError
from ..io import load_torch_file
from .base import Generator, normal_rows
from .families import register_family
from .fast_layers import truncate
from .stylegan2_layers import StyleGAN2Network
from .weights import state_tensor, user_weights_info

LATENT_SPACES = ("z", "w", "w+")
#: latent_avg is estimated from this many mapped codes when a checkpoint has none.
MEAN_LATENT_SAMPLES = 4096


class StyleGAN2Generator(Generator):
    """A frozen StyleGAN2 generator exposing one of the latent spaces z, w, w+.

    Args:
        net: the network (rosinality module names).
        name: model name.
        latent_space: "z", "w" or "w+".
        truncation: psi in [0, 1]-ish; 1 means no truncation.
        latent_avg: (style_dim,) centre of truncation (None: estimated from
            ``MEAN_LATENT_SAMPLES`` mapped codes, seed 0, when ``truncation != 1``).
        randomize_noise: draw fresh noise at every call (non-deterministic; the metric's
            determinism probe refuses it). Default False: the stored noise buffers.
        clamp: clamp images to [-1, 1] (off by default: StyleGAN2's raw output slightly
            overshoots, and clamping zeroes the Jacobian of saturated pixels).

    Attributes:
        g_ema: the network; ``g_ema.state_dict()`` is a rosinality ``g_ema`` entry.
        style_dim: the size of one style vector (z and w).
        n_latent: the number of style vectors in w+.
        truncation: psi.
    """

    def __init__(self, net: StyleGAN2Network, *, name: str = "stylegan2", latent_space: str = "w",
                 truncation: float = 1.0, latent_avg: torch.Tensor | None = None, randomize_noise: bool = False,
                 clamp: bool = False):
        checks.one_of("latent_space", latent_space, LATENT_SPACES, what="latent space of StyleGAN2")
        try:
            truncation = float(truncation)
        except (TypeError, ValueError):
            raise InputError(f"truncation must be a number (psi, 1 = none), got {truncation}",
                             argument="truncation") from None
        if not 0.0 <= truncation <= 2.0:
            raise InputError(f"truncation psi must be in [0, 2], got {truncation}", argument="truncation")
        dims = {"z": net.style_dim, "w": net.style_dim, "w+": net.n_latent * net.style_dim}
        super().__init__(name=name, latent_dim=dims[latent_space], latent_space=latent_space, resolution=net.size,
                         latent_spaces=LATENT_SPACES)
        self.g_ema = net
        self.style_dim, self.n_latent = net.style_dim, net.n_latent
        self.truncation = truncation
        self.randomize_noise = bool(randomize_noise)
        self.clamp = bool(clamp)
        if latent_avg is None and truncation != 1.0:
            latent_avg = mean_latent(net)
        if latent_avg is not None:
            latent_avg = torch.as_tensor(latent_avg, device="cpu").detach().reshape(-1).clone()
            if latent_avg.numel() != net.style_dim:
                raise WeightsError(f"latent_avg has {latent_avg.numel()} entries, expected style_dim = {net.style_dim}")
        self.register_buffer("latent_avg", latent_avg)
        self.freeze()

    def mapping(self, z: torch.Tensor, *, truncation: float | None = None) -> torch.Tensor:
        """The mapping network with truncation: z (B, style_dim) -> w (B, style_dim).

        ``w = avg + psi (MLP(z) - avg)``; ``truncation`` overrides the model's psi.
        """
        return self._truncated(self.g_ema.mapping(z), truncation)

    def _truncated(self, w: torch.Tensor, truncation: float | None = None) -> torch.Tensor:
        """``avg + psi (w - avg)`` in w's dtype and on its device (w itself when psi = 1)."""
        psi = self.truncation if truncation is None else float(truncation)
        return truncate(w, self.latent_avg, psi, centre_name="latent_avg")

    def _seeded_mapping(self, z: torch.Tensor) -> torch.Tensor:
        """``mapping(z)`` for drawn codes: on the CPU in float64, one row at a time.

        A batched product's rounding depends on the number of rows (BLAS and cuBLAS pick
        kernels by shape) and on the device, so mapping the draws as one batch on the model's
        device would make row i of ``sample(N, seed)`` depend on N and on the GPU: a seeded batch
        could not grow. Row by row in float64 on the CPU, it is the same number everywhere.
        """
        mlp = copy.deepcopy(self.g_ema.style).to(device="cpu", dtype=torch.float64)
        z = z.to(device="cpu", dtype=torch.float64)
        with torch.no_grad():
            w = torch.cat([mlp(z[i:i + 1]) for i in range(z.shape[0])])
        return self._truncated(w)

    def styles(self, codes: torch.Tensor) -> torch.Tensor:
        """Per-layer styles (B, n_latent, style_dim) for codes in this model's latent space."""
        B = codes.shape[0]
        if self.latent_space == "z":
            return self.mapping(codes)[:, None].expand(B, self.n_latent, self.style_dim)
        if self.latent_space == "w":
            return codes[:, None].expand(B, self.n_latent, self.style_dim)
        return codes.reshape(B, self.n_latent, self.style_dim)

    def _generate(self, codes):
        x = self.g_ema.synthesis(self.styles(codes), randomize_noise=self.randomize_noise)
        return x.clamp(-1, 1) if self.clamp else x

    def sample(self, n: int = 1, seed: int = 0) -> torch.Tensor:
        """Codes from the prior: z ~ N(0, I); w = mapping(z) (truncated); w+ = w repeated per layer.

        Row i does not depend on n nor on the device: z is drawn row by row on the CPU, and w is
        mapped on the CPU in float64, row by row (:meth:`_seeded_mapping`), then cast.

        Returns:
            (n, latent_dim) on the generator's device and dtype.
        """
        z = normal_rows(n, self.style_dim, seed)  # float64, CPU, row i independent of n
        if self.latent_space != "z":
            w = self._seeded_mapping(z)
            z = w if self.latent_space == "w" else w.repeat(1, self.n_latent)
        return z.to(device=self.device, dtype=self.dtype)

    def map_options(self) -> dict:
        return {"truncation": self.truncation, "lr_mlp": self.g_ema.lr_mlp, "randomize_noise": self.randomize_noise,
                "clamp": self.clamp}

    def to_checkpoint(self) -> dict:
        """A rosinality-format checkpoint dict ``{"g_ema": state_dict, "latent_avg": ...}`` (CPU copies)."""
        ckpt = {"g_ema": {k: v.detach().cpu().clone() for k, v in self.g_ema.state_dict().items()}}
        if self.latent_avg is not None:
            ckpt["latent_avg"] = self.latent_avg.detach().cpu().clone()
        return ckpt

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, resolution={self.resolution}, style_dim={self.style_dim}, "
                f"n_latent={self.n_latent}, truncation={self.truncation}")


def mean_latent(net: StyleGAN2Network, n: int = MEAN_LATENT_SAMPLES, seed: int = 0) -> torch.Tensor:
    """Mean of ``mapping(z)`` over ``n`` standard-normal codes (private seeded RNG)."""
    p = next(net.parameters())
    z = torch.randn(n, net.style_dim, generator=torch.Generator(device="cpu").manual_seed(seed), dtype=torch.float64,
                    device="cpu")
    with torch.no_grad():
        return net.mapping(z.to(device=p.device, dtype=p.dtype)).mean(0)


def read_checkpoint(path) -> tuple[dict, torch.Tensor | None]:
    """The ``g_ema`` state dict and ``latent_avg`` (or None) of a rosinality checkpoint file.

    Loaded with ``weights_only=True`` (``argparse.Namespace``, which rosinality's training
    checkpoints store under ``args``, is allowed).

    Raises:
        InputError: the file does not exist.
        WeightsError: unreadable, or neither a rosinality checkpoint nor a generator state dict.
    """
    obj = load_torch_file(path, what="StyleGAN2 weights file", safe_globals=[argparse.Namespace])
    return split_checkpoint(obj, where=str(Path(path).expanduser()))


def split_checkpoint(obj, *, where: str = "checkpoint") -> tuple[dict, torch.Tensor | None]:
    """(g_ema state dict, latent_avg or None) from a loaded checkpoint object.

    Raises:
        WeightsError: not a dict holding ``g_ema`` nor a bare generator state dict.
    """
    if not isinstance(obj, dict):
        raise WeightsError(f"{where}: expected a rosinality checkpoint dict with key 'g_ema', got {type(obj).__name__}")
    if "g_ema" in obj:
        state, avg = obj["g_ema"], obj.get("latent_avg")
    elif "input.input" in obj:  # a bare state dict (a flat .safetensors file may hold latent_avg beside it)
        state, avg = {k: v for k, v in obj.items() if k != "latent_avg"}, obj.get("latent_avg")
    else:
        keys = ", ".join(sorted(map(str, obj))[:8])
        raise WeightsError(f"{where}: expected a rosinality StyleGAN2 checkpoint (key 'g_ema') or a generator "
                           f"state dict (key 'input.input'); found keys {keys}")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{where}: 'g_ema' must be a state dict of tensors")
    if avg is not None and not isinstance(avg, torch.Tensor):
        raise WeightsError(f"{where}: 'latent_avg' must be a tensor, got {type(avg).__name__}")
    return dict(state), avg


def infer_architecture(state: dict, *, where: str = "checkpoint") -> dict:
    """Network sizes read off the shapes of a ``g_ema`` state dict.

    Returns:
        dict with ``channels`` (widths at sides 4 ... resolution), ``style_dim``, ``n_mlp``,
        ``img_channels``, ``kernel_size``, ``blur_kernel`` (taps, length from the buffers).

    Raises:
        WeightsError: a key the architecture needs is missing or has an unexpected shape.
    """
    def get(key, ndim):
        return state_tensor(state, key, ndim, where=where, kind="a StyleGAN2 generator state dict")

    mlp = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
    if mlp != list(range(1, len(mlp) + 1)):
        raise WeightsError(f"{where}: mapping layers style.N.weight must be numbered 1..n, found {mlp}")
    conv1 = get("conv1.conv.weight", 5)
    style_dim = int(get("conv1.conv.modulation.weight", 2).shape[1])
    n_conv = sum(1 for k in state if re.fullmatch(r"convs\.\d+\.conv\.weight", k))
    if n_conv % 2:
        raise WeightsError(f"{where}: expected an even number of synthesis convs (two per resolution), found {n_conv}")
    channels = [int(get("input.input", 4).shape[1])]
    channels += [int(get(f"convs.{2 * i}.conv.weight", 5).shape[1]) for i in range(n_conv // 2)]
    blur = state.get("convs.0.conv.blur.kernel")
    return {"channels": channels, "style_dim": style_dim, "n_mlp": len(mlp),
            "img_channels": int(get("to_rgb1.conv.weight", 5).shape[1]), "kernel_size": int(conv1.shape[-1]),
            "blur_kernel": (1, 3, 3, 1) if blur is None else tuple([1] * int(blur.shape[0]))}


def network_from_state(state: dict, *, lr_mlp: float = 0.01, where: str = "checkpoint") -> StyleGAN2Network:
    """Build the network that fits ``state`` and load it strictly.

    Raises:
        WeightsError: missing or unexpected keys, or a shape that does not fit.
    """
    arch = infer_architecture(state, where=where)
    net = StyleGAN2Network(lr_mlp=lr_mlp, **arch)
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing keys {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")] if missing else [])
        parts += ([f"unexpected keys {', '.join(unexpected[:5])}" + (" ..." if len(unexpected) > 5 else "")]
                  if unexpected else [])
        raise WeightsError(f"{where} does not fit a StyleGAN2 generator ({'; '.join(parts)})")
    for k, v in expected.items():
        if state[k].shape != v.shape:
            raise WeightsError(f"{where}: {k} has shape {tuple(state[k].shape)}, the architecture inferred from "
                               f"the other tensors needs {tuple(v.shape)}")
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return net


def stylegan2_from_checkpoint(ckpt, *, name: str = "stylegan2", latent_space: str = "w", truncation: float = 1.0,
                              lr_mlp: float = 0.01, randomize_noise: bool = False, clamp: bool = False
                              ) -> StyleGAN2Generator:
    """A :class:`StyleGAN2Generator` from a checkpoint file path or an already loaded checkpoint dict.

    Args:
        ckpt: a rosinality checkpoint (``.pt`` path, read weights-only) or its loaded dict (``g_ema``,
            optionally ``latent_avg``); sizes are read from the state.
        name: the model's name in result files.
        latent_space: "z", "w" or "w+".
        truncation: psi (1: none), around the checkpoint's ``latent_avg`` when it has one.
        lr_mlp: the mapping network's learning-rate multiplier the checkpoint was trained with.
        randomize_noise: fresh noise at every call (refused by the metric's determinism probe).
        clamp: clamp images to [-1, 1].

    Returns:
        The frozen :class:`StyleGAN2Generator`.

    Raises:
        InputError: missing file or bad option; WeightsError: the checkpoint does not fit.
    """
    if isinstance(ckpt, dict):
        state, avg = split_checkpoint(ckpt)
        where = "checkpoint"
    else:
        state, avg = read_checkpoint(ckpt)
        where = str(ckpt)
    net = network_from_state(state, lr_mlp=lr_mlp, where=where)
    return StyleGAN2Generator(net, name=name, latent_space=latent_space, truncation=truncation,
                              latent_avg=None if avg is None else avg.float(), randomize_noise=randomize_noise,
                              clamp=clamp)


def _config_weights(cfg: dict, weights) -> Path:
    """The weight file: ``weights=`` if given, else the config's ``weights.path`` (relative to the config)."""
    spec = cfg.get("weights") or {}
    if weights is not None:
        return Path(weights).expanduser()
    if spec.get("path"):
        p = Path(spec["path"]).expanduser()
        return p if p.is_absolute() or "_path" not in cfg else Path(cfg["_path"]).parent / p
    where = f"download {spec.get('file', 'the .pt')} from {spec['url']} and " if spec.get("url") else ""
    raise WeightsError(f"{cfg['name']}: StyleGAN2 weights cannot be downloaded by ganmetric; {where}pass weights=PATH, "
                       f"or put the path in a config (see pretrained_configs/stylegan2-custom.json.example) and use "
                       f"that .json as the model")


@register_family("stylegan2")
def build_stylegan2(cfg: dict, *, latent_space: str = "w", weights: str | None = None, truncation: float | None = None,
                    lr_mlp: float | None = None, randomize_noise: bool = False, clamp: bool = False
                    ) -> StyleGAN2Generator:
    """Builder for ``family: stylegan2`` configs.

    Config keys used: ``weights.path`` (or ``weights=``), ``weights.sha256`` (checked when
    set), ``resolution`` and ``latent_spaces.z`` (checked against the checkpoint when
    present), ``options`` (defaults for ``truncation`` and ``lr_mlp``). A config whose
    ``weights.source`` is ``"random"`` builds ``architecture`` with seeded random weights
    (``weights.seed``): a demo model that needs no download.

    Raises:
        InputError: bad option or missing file; WeightsError: no weights, or weights that do
            not fit the config or the architecture.
    """
    defaults = cfg.get("options") or {}
    truncation = defaults.get("truncation", 1.0) if truncation is None else truncation
    lr_mlp = defaults.get("lr_mlp", 0.01) if lr_mlp is None else lr_mlp
    if isinstance(lr_mlp, bool) or not isinstance(lr_mlp, (int, float)) or not lr_mlp > 0:
        raise InputError(f"lr_mlp must be a positive number (rosinality's default 0.01), got {lr_mlp}",
                         argument="lr_mlp")
    spec = cfg.get("weights") or {}
    options = {"name": cfg["name"], "latent_space": latent_space, "truncation": truncation,
               "randomize_noise": randomize_noise, "clamp": clamp}
    if weights is None and spec.get("source") == "random":
        seed = int(spec.get("seed", 0))
        net = StyleGAN2Network(lr_mlp=float(lr_mlp), seed=seed, **cfg["architecture"])
        gen = StyleGAN2Generator(net, **options)
        gen.weights = {"source": "random", "seed": seed}
        return gen
    path = _config_weights(cfg, weights)
    _check_config_digest(cfg, path)
    gen = stylegan2_from_checkpoint(path, lr_mlp=float(lr_mlp), **options)
    res, sdim = cfg.get("resolution"), (cfg.get("latent_spaces") or {}).get("z")
    if (res is not None and res != gen.resolution) or (isinstance(sdim, int) and sdim != gen.style_dim):
        raise WeightsError(f"{path} holds a {gen.resolution} px generator with style_dim {gen.style_dim}, but config "
                           f"{cfg['name']} is {res} px with style_dim {sdim}; use the config 'stylegan2' for any size")
    gen.weights = user_weights_info(path)
    return gen


def _check_config_digest(cfg: dict, path: Path) -> None:
    """A config may pin the exact file it was written for (``weights.sha256``).

    Raises:
        WeightsError: the file's digest differs.
    """
    expected = (cfg.get("weights") or {}).get("sha256")
    if expected and path.is_file():
        from .weights import sha256_file
        got = sha256_file(path)
        if got != expected:
            raise WeightsError(f"sha256 mismatch for {path}: config {cfg['name']} expects {expected}, got {got}")
