"""StyleGAN (1) from rosinality's ``style-based-gan-pytorch`` checkpoints (family ``stylegan1``).

A checkpoint is the dict ``train.py`` writes (``generator``, ``discriminator``, optimiser
states and ``g_running``, the running average the authors sample from: only ``g_running`` is
used) or a bare ``g_running`` state dict (its periodic snapshots), read weights-only and loaded
strictly: every key of ``g_running`` is used, none is ignored.

The map is the authors' ``generate.py`` at ``alpha = 1``:

- ``resolution`` picks ``step = log2(resolution) - 2``: the blocks 4 ... resolution px run and
  the ``to_rgb`` of the last one gives the image (the published files hold every scale up to
  1024 px whatever resolution they were trained to);
- truncation ``psi`` (``style_weight``) pulls the style toward ``mean_style``:
  ``w = mean_style + psi (MLP(z) - mean_style)``. ``mean_style`` is estimated as the authors'
  ``get_mean_style`` does (the mean of 10 batches of 1024 standard-normal z, each batch's mean
  averaged), from a private generator seeded ``mean_style_seed`` (default 0), or given;
- the noise images (one per scale, (1, 1, 4 * 2^i, 4 * 2^i), shared by every code so that the
  map is deterministic) are drawn from a private generator seeded ``noise_seed`` (default 0),
  scale by scale, or given as ``generate.py`` passes them.

Latent spaces: ``z`` (style_dim: through the mapping network and the truncation), ``w``
(style_dim: one style for every block, used as given, as GAN-Geometry's ``wspace``) and ``w+``
((step + 1) * style_dim: one style per block, rows flattened). Images are the raw output of
``to_rgb`` (about [-1, 1]; ``clamp=True`` clamps them, as GAN-Geometry's ``visualize`` did).
"""
from __future__ import annotations

import copy
import hashlib
import math
import zipfile
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..errors import InputError, WeightsError
from ..io import load_torch_file
from .base import Generator, load_state_strict, normal_rows
from .families import register_family
from .fast_layers import fold_all, truncate
from .stylegan1_layers import Blur, StyledGenerator, infer_architecture
from .weights import resolve_user_file

LATENT_SPACES = ("z", "w", "w+")
#: get_mean_style: this many batches of this many codes
MEAN_STYLE_BATCHES, MEAN_STYLE_BATCH = 10, 1024
#: the key that tells a bare g_running state dict
_MARKER = "generator.progression.0.conv1.input"


class StyleGAN1Generator(Generator):
    """A frozen rosinality StyleGAN generator at one resolution, in latent space z, w or w+.

    Args:
        net: the network (``g_running``, rosinality module names).
        name: model name.
        latent_space: "z", "w" or "w+".
        resolution: output side, a power of 2 from 4 to ``net.max_resolution``.
        truncation: psi (``style_weight``) in [0, 2]; 1 means none.
        noise: step + 1 noise images (arrays or tensors of shape (1, 1, s, s) or (s, s),
            s = 4, 8, ..., resolution), or an ``.npz`` file holding them in that order;
            None: drawn with ``noise_seed``.
        noise_seed: seed of the drawn noise (default 0); not with ``noise``.
        mean_style: the centre of truncation, (style_dim,) or (1, style_dim), or an ``.npy``
            file; None: estimated with ``mean_style_seed`` when ``truncation != 1``.
        mean_style_seed: seed of the estimate (default 0); not with ``mean_style``.
        clamp: clamp images to [-1, 1] (zero derivative on saturated pixels).
        noise_sha256, mean_style_sha256: the digests a result file records for given noise
            images or mean style: they must then be given again, and be the same (used when a
            recorded model is rebuilt).

    Raises:
        InputError: a bad option (one line naming it).
    """

    def __init__(self, net: StyledGenerator, *, name: str = "stylegan1", latent_space: str = "z",
                 resolution: int = 256, truncation: float = 0.7, noise=None, noise_seed: int | None = None,
                 mean_style=None, mean_style_seed: int | None = None, clamp: bool = False,
                 noise_sha256: str | None = None, mean_style_sha256: str | None = None):
        checks.one_of("latent_space", latent_space, LATENT_SPACES, what="latent space of StyleGAN")
        step = _step(resolution, net.max_resolution)
        truncation = checks.finite_float("truncation", truncation)
        if not 0.0 <= truncation <= 2.0:
            raise InputError(f"truncation (style weight psi) must be in [0, 2], got {truncation}",
                             argument="truncation")
        dims = {"z": net.style_dim, "w": net.style_dim, "w+": (step + 1) * net.style_dim}
        super().__init__(name=name, latent_dim=dims[latent_space], latent_space=latent_space,
                         resolution=4 * 2 ** step, latent_spaces=LATENT_SPACES)
        self.g_running = net
        self.style_dim, self.step, self.truncation, self.clamp = net.style_dim, step, truncation, bool(clamp)
        _given_again(noise_sha256, noise, "noise")
        _given_again(mean_style_sha256, mean_style, "mean_style")
        noises, self.noise_seed, self.noise_sha256 = noise_images(noise, noise_seed, step)
        _same_digest(noise_sha256, self.noise_sha256, "noise")
        for i, t in enumerate(noises):
            self.register_buffer(f"noise_{i}", t)
        mean, self.mean_style_seed, self.mean_style_sha256 = _mean_style(net, mean_style, mean_style_seed,
                                                                         needed=truncation != 1.0)
        _same_digest(mean_style_sha256, self.mean_style_sha256, "mean_style")
        self.register_buffer("mean_style", mean)
        self.freeze()
        fold_all(net)

    def noises(self) -> list[torch.Tensor]:
        """The noise images of scales 4 ... resolution, each (1, 1, s, s)."""
        return [getattr(self, f"noise_{i}") for i in range(self.step + 1)]

    def mapping(self, z: torch.Tensor, *, truncation: float | None = None) -> torch.Tensor:
        """The mapping network with truncation: z (B, style_dim) -> w (B, style_dim).

        ``w = mean_style + psi (MLP(z) - mean_style)``; ``truncation`` overrides the model's psi.
        """
        psi = self.truncation if truncation is None else float(truncation)
        return truncate(self.g_running.style(z), self.mean_style, psi, centre_name="mean_style")

    def styles(self, codes: torch.Tensor) -> torch.Tensor:
        """The style of each block, (B, step + 1, style_dim), for codes in this model's latent space."""
        B, n = codes.shape[0], self.step + 1
        if self.latent_space == "z":
            return self.mapping(codes)[:, None].expand(B, n, self.style_dim)
        if self.latent_space == "w":
            return codes[:, None].expand(B, n, self.style_dim)
        return codes.reshape(B, n, self.style_dim)

    def _generate(self, codes):
        x = self.g_running.generator(self.styles(codes), self.noises(), self.step)
        return x.clamp(-1, 1) if self.clamp else x

    def sample(self, n: int = 1, seed: int = 0) -> torch.Tensor:
        """Codes as the authors draw them: z ~ N(0, I); w = mapping(z) (truncated); w+ = w per block.

        Row i does not depend on n nor on the device: z is drawn row by row on the CPU, and w is
        mapped by a float64 copy of the mapping network on the CPU, one row a pass (a batched
        product's rounding depends on the number of rows and on the device), then cast.

        Returns:
            (n, latent_dim) on the generator's device and dtype.
        """
        z = normal_rows(n, self.style_dim, seed)  # float64, CPU
        if self.latent_space != "z":
            mlp = copy.deepcopy(self.g_running.style).to(device="cpu", dtype=torch.float64)
            with torch.no_grad():
                w = torch.cat([mlp(z[i:i + 1]) for i in range(n)])
            w = truncate(w, self.mean_style, self.truncation, centre_name="mean_style")
            z = w if self.latent_space == "w" else w.repeat(1, self.step + 1)
        return z.to(device=self.device, dtype=self.dtype)

    def map_options(self) -> dict:
        return {"resolution": self.resolution, "truncation": self.truncation, "noise_seed": self.noise_seed,
                "noise_sha256": self.noise_sha256, "mean_style_seed": self.mean_style_seed,
                "mean_style_sha256": self.mean_style_sha256, "clamp": self.clamp}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, resolution={self.resolution}, truncation={self.truncation}"


def _step(resolution, max_resolution: int) -> int:
    """log2(resolution) - 2, for a power of 2 from 4 to ``max_resolution``.

    Raises:
        InputError: any other value (one line listing the resolutions the checkpoint holds).
    """
    sizes = [4 * 2 ** i for i in range(int(math.log2(max_resolution)) - 1)]
    ok = not isinstance(resolution, bool) and isinstance(resolution, (int, np.integer)) and int(resolution) in sizes
    if not ok:
        raise InputError(f"resolution must be one of {', '.join(map(str, sizes))} (the scales this checkpoint "
                         f"holds), got {resolution}", argument="resolution")
    return sizes.index(int(resolution))


def _given_again(recorded: str | None, value, argument: str) -> None:
    """A record of user-given arrays (their sha256) needs them given again.

    Raises:
        InputError: a digest is recorded and nothing is given.
    """
    if recorded is not None and value is None:
        raise InputError(f"{argument} must be given again: the model was made with arrays you gave (sha256 "
                         f"{recorded[:12]})", argument=argument)


def _same_digest(recorded: str | None, got: str | None, argument: str) -> None:
    """Raises InputError when given arrays differ from the recorded ones."""
    if recorded is not None and got != recorded:
        raise InputError(f"{argument} differs from the arrays the model was made with (sha256 {str(got)[:12]} given, "
                         f"{recorded[:12]} recorded)", argument=argument)


def _digest(arrays: list[np.ndarray]) -> str:
    """sha256 of float32 arrays (shapes and little-endian values), in order."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(repr(tuple(a.shape)).encode())
        h.update(np.ascontiguousarray(a, dtype="<f4").tobytes())
    return h.hexdigest()


def _as_float32(value, what: str, argument: str) -> np.ndarray:
    """An array-like (numpy, torch, nested lists) as a finite float32 array.

    Raises:
        InputError: not numeric, or NaN/inf.
    """
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu").numpy()
    try:
        a = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be an array of numbers, got {type(value).__name__}", argument=argument) from None
    if not np.isfinite(a).all():
        raise InputError(f"{what} contains NaN or inf values", argument=argument)
    return a


def _read_array_file(path, suffix: str, argument: str):
    """The arrays of a user's ``.npz`` (in file order) or ``.npy`` file, read without pickles.

    Raises:
        InputError: missing file, another kind of file, or an unreadable one.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() != suffix:
        raise InputError(f"{argument} file must be a {suffix} file, got {path}", argument=argument)
    if not path.is_file():
        raise InputError(f"{argument} file not found: {path}", argument=argument)
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return [data[k] for k in data.files]
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read the {argument} file {path}: {exc}", argument=argument) from None


def noise_images(noise, noise_seed, step: int) -> tuple[list[torch.Tensor], int | None, str | None]:
    """The noise images of scales 4 ... 4 * 2^step: ``(images, seed or None, sha256 or None)``.

    Drawn (float32, scale by scale, from a private CPU generator seeded ``noise_seed``, default 0)
    unless given as arrays or an ``.npz`` file.

    Raises:
        InputError: both noise and a seed; a count or a shape that does not fit; non-finite values.
    """
    sizes = [4 * 2 ** i for i in range(step + 1)]
    if noise is None:
        seed = 0 if noise_seed is None else checks.integer("noise_seed", noise_seed, minimum=0)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        return [torch.randn(1, 1, s, s, generator=gen, device="cpu", dtype=torch.float32) for s in sizes], seed, None
    if noise_seed is not None:
        raise InputError("give noise or noise_seed, not both", argument="noise")
    if isinstance(noise, (str, Path)):
        noise = _read_array_file(noise, ".npz", "noise")
    if isinstance(noise, (torch.Tensor, np.ndarray)) or not hasattr(noise, "__len__"):
        raise InputError(f"noise must be a list of {len(sizes)} arrays (one per scale {', '.join(map(str, sizes))}) "
                         f"or an .npz file holding them, got {type(noise).__name__}", argument="noise")
    if len(noise) != len(sizes):
        raise InputError(f"noise must hold {len(sizes)} arrays for resolution {sizes[-1]} (one per scale "
                         f"{', '.join(map(str, sizes))}), got {len(noise)}", argument="noise")
    arrays = []
    for i, (a, s) in enumerate(zip(noise, sizes)):
        a = _as_float32(a, f"noise[{i}]", "noise")
        if a.shape not in ((1, 1, s, s), (s, s)):
            raise InputError(f"noise[{i}] (scale {s}) must have shape (1, 1, {s}, {s}) or ({s}, {s}): one fixed noise "
                             f"image for every code, got {a.shape}", argument="noise")
        arrays.append(a.reshape(1, 1, s, s))
    return [torch.from_numpy(a.copy()) for a in arrays], None, _digest(arrays)


def estimate_mean_style(net: StyledGenerator, seed: int = 0) -> torch.Tensor:
    """The authors' ``get_mean_style``: the mean over 10 batches of the mean style of 1024 z ~ N(0, I).

    z is drawn in float32 from a private CPU generator seeded ``seed`` (the global RNG is
    untouched); with the seed the authors' script ran under, the result is theirs.

    Returns:
        (1, style_dim) on the network's device and dtype.
    """
    p = next(net.parameters())
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    total = None
    with torch.no_grad():
        for _ in range(MEAN_STYLE_BATCHES):
            z = torch.randn(MEAN_STYLE_BATCH, net.style_dim, generator=gen, device="cpu", dtype=torch.float32)
            style = net.style(z.to(device=p.device, dtype=p.dtype), plain=True).mean(0, keepdim=True)
            total = style if total is None else total + style
    return total / MEAN_STYLE_BATCHES


def _mean_style(net, mean_style, seed, *, needed: bool) -> tuple[torch.Tensor | None, int | None, str | None]:
    """``(mean_style (style_dim,) or None, seed or None, sha256 or None)``.

    Raises:
        InputError: both a mean style and a seed; a wrong shape; non-finite values.
    """
    if mean_style is None:
        if seed is not None:
            seed = checks.integer("mean_style_seed", seed, minimum=0)
        if not needed:
            return None, None, None
        seed = 0 if seed is None else seed
        return estimate_mean_style(net, seed).reshape(-1), seed, None
    if seed is not None:
        raise InputError("give mean_style or mean_style_seed, not both", argument="mean_style")
    if isinstance(mean_style, (str, Path)):
        mean_style = _read_array_file(mean_style, ".npy", "mean_style")
    a = _as_float32(mean_style, "mean_style", "mean_style")
    if a.shape not in ((net.style_dim,), (1, net.style_dim)):
        raise InputError(f"mean_style must have shape ({net.style_dim},) or (1, {net.style_dim}), got {a.shape}",
                         argument="mean_style")
    a = a.reshape(-1)
    return torch.from_numpy(a.copy()), None, _digest([a])


def split_checkpoint(obj, *, where: str = "checkpoint") -> dict:
    """The ``g_running`` state dict of a loaded rosinality StyleGAN checkpoint (or a bare one).

    Raises:
        WeightsError: neither, in one line saying what the file holds instead.
    """
    if isinstance(obj, dict) and "g_running" in obj:
        state = obj["g_running"]
    elif isinstance(obj, dict) and _MARKER in obj:
        state = obj
    elif isinstance(obj, dict) and "g_ema" in obj:
        raise WeightsError(f"{where} is a StyleGAN2 checkpoint (key 'g_ema'), not a StyleGAN (1) one: use the model "
                           "stylegan2")
    else:
        found = ", ".join(sorted(map(str, obj))[:8]) if isinstance(obj, dict) else type(obj).__name__
        raise WeightsError(f"{where} is not a rosinality StyleGAN checkpoint (a dict with 'g_running', as "
                           f"style-based-gan-pytorch's train.py writes, or its state dict); found {found}")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{where}: 'g_running' must be a state dict of tensors")
    return dict(state)


def network_from_state(state: dict, *, where: str = "checkpoint") -> StyledGenerator:
    """The network that fits ``state``, loaded strictly (every key used, none ignored).

    Raises:
        WeightsError: a missing or unexpected key, a shape that does not fit, or Blur buffers
            whose ``weight_flip`` is not the flip of ``weight``.
    """
    net = StyledGenerator(**infer_architecture(state, where=where))
    load_state_strict(net, state, where, label="StyleGAN weights")
    for name, module in net.named_modules():
        if isinstance(module, Blur) and not torch.equal(module.weight_flip, torch.flip(module.weight, [2, 3])):
            raise WeightsError(f"{where}: g_running.{name}.weight_flip is not the flip of its weight")
    return net


@register_family("stylegan1")
def build_stylegan1(cfg: dict, *, latent_space: str = "z", weights: str | None = None, resolution: int | None = None,
                    truncation: float | None = None, noise=None, noise_seed: int | None = None, mean_style=None,
                    mean_style_seed: int | None = None, clamp: bool = False, noise_sha256: str | None = None,
                    mean_style_sha256: str | None = None) -> StyleGAN1Generator:
    """Builder for ``family: stylegan1`` configs.

    Config keys used: ``weights`` (``file``/``url`` of the published checkpoint, its place in the
    cache, ``sha256`` when pinned), ``options`` (defaults for ``resolution`` and ``truncation``).

    Raises:
        InputError: a bad option or missing file; WeightsError: no weights, or weights that are
            not a StyleGAN (rosinality) generator.
    """
    defaults = cfg.get("options") or {}
    path, info = resolve_user_file(cfg, weights)
    where = str(path)
    state = split_checkpoint(load_torch_file(path, what="StyleGAN weights file"), where=where)
    gen = StyleGAN1Generator(network_from_state(state, where=where), name=cfg["name"], latent_space=latent_space,
                             resolution=defaults.get("resolution", 256) if resolution is None else resolution,
                             truncation=defaults.get("truncation", 0.7) if truncation is None else truncation,
                             noise=noise, noise_seed=noise_seed, mean_style=mean_style,
                             mean_style_seed=mean_style_seed, clamp=clamp, noise_sha256=noise_sha256,
                             mean_style_sha256=mean_style_sha256)
    gen.weights = info
    return gen
