"""NVIDIA StyleGAN2-ADA / StyleGAN3 network pickles as ganmetric generators: ``load_nvidia_pickle``.

A ``.pkl`` written by stylegan2-ada-pytorch or stylegan3 is read without running the code
inside it (:mod:`.pickles`), its generator is identified and rebuilt in ganmetric's own
networks (:mod:`.build`), and wrapped as a :class:`NvidiaGenerator` in one of three latent
spaces (``num_ws`` styles of size ``w_dim``):

- ``z`` (z_dim): ``G(z) = synthesis(mapping(z, c))``, truncated by ``truncation`` (psi) around
  the file's ``w_avg`` on the first ``truncation_cutoff`` styles (all by default);
- ``w`` (w_dim, the default): ``G(w) = synthesis(w repeated num_ws times)``;
- ``w+`` (num_ws * w_dim): one style per layer, rows flattened row-major.

``w``/``w+`` codes are used as given; truncation acts on ``z`` codes and on codes drawn by
``sample``. A conditional model (``c_dim`` > 0) is used at one class (``class_index``, a
one-hot label). Noise inputs (StyleGAN2) are the file's constant ``noise_const`` maps by
default (``noise_mode="const"``), or none, or fresh random draws (``"random"``: not a
deterministic map, which the metric's probe refuses).
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch

from ... import checks
from ...errors import InputError, UnknownSourceWarning
from ...io import sha256_file
from ..base import Generator, normal_rows
from .build import load_record, make_networks
from .pickles import known_source, network_record, read_network_pickle, source_sha256

LATENT_SPACES = ("w", "z", "w+")
NETWORKS = ("G_ema", "G")
NOISE_MODES = ("const", "none", "random")


class NvidiaGenerator(Generator):
    """A frozen NVIDIA StyleGAN2/StyleGAN3 generator in latent space z, w or w+ (see the module docstring).

    Args:
        mapping, synthesis: the networks (ganmetric's, or NVIDIA's own under ``--trust-pickled-code``);
            ``mapping(z, c, truncation_psi=, truncation_cutoff=)`` -> (B, num_ws, w_dim) and
            ``synthesis(ws, noise_mode=, force_fp32=)`` -> images.
        name: the model as the user named it.
        latent_space: "w", "z" or "w+".
        truncation: psi in [0, 2] (1: none).
        truncation_cutoff: truncate only the first styles (None: all); not in space w.
        class_index: the class of a conditional model (required then; None otherwise).
        noise_mode: "const", "none" or "random" (StyleGAN2; StyleGAN3 has no noise inputs).
        record: what to record about the file (``map_options``): ``network``, ``architecture``,
            ``config``, ``source``, ``pickled_code``.

    Attributes:
        z_dim, c_dim, w_dim, num_ws, n_latent (= num_ws), style_dim (= w_dim), truncation,
        truncation_cutoff, class_index, noise_mode, architecture.

    Raises:
        InputError: an unknown latent space or noise mode, psi outside [0, 2] (or any psi without
            ``w_avg``), a cutoff outside 1..num_ws or in space w, a class missing, out of range or
            given to an unconditional model, a noise mode for StyleGAN3.
    """

    def __init__(self, mapping, synthesis, *, name: str, latent_space: str = "w", truncation: float = 1.0,
                 truncation_cutoff: int | None = None, class_index: int | None = None, noise_mode: str = "const",
                 record: dict | None = None):
        record = dict(record or {})
        self.architecture = record.get("architecture", "stylegan2")
        z_dim, c_dim, w_dim, num_ws = (int(mapping.z_dim), int(mapping.c_dim), int(mapping.w_dim),
                                       int(mapping.num_ws))
        checks.one_of("latent_space", latent_space, LATENT_SPACES, what="latent space of an NVIDIA generator")
        dims = {"z": z_dim, "w": w_dim, "w+": num_ws * w_dim}
        super().__init__(name=name, latent_dim=dims[latent_space], latent_space=latent_space,
                         resolution=int(synthesis.img_resolution), latent_spaces=LATENT_SPACES)
        self.mapping, self.synthesis = mapping, synthesis
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.n_latent, self.style_dim = num_ws, w_dim
        self.truncation = _psi(truncation)
        if self.truncation != 1 and getattr(mapping, "w_avg", None) is None:
            raise InputError(f"{name} tracks no w_avg (w_avg_beta=None), so it cannot be truncated",
                             argument="truncation")
        self.truncation_cutoff = _cutoff(truncation_cutoff, num_ws, latent_space)
        self.class_index = _class(class_index, c_dim, name)
        noise_mode = checks.one_of("noise_mode", noise_mode, NOISE_MODES)
        if self.architecture == "stylegan3" and noise_mode != "const":
            raise InputError("StyleGAN3 has no noise inputs: noise_mode does not apply", argument="noise_mode")
        self.noise_mode = None if self.architecture == "stylegan3" else noise_mode
        self.record = record
        label = torch.zeros((1, c_dim), device="cpu")
        if self.class_index is not None:
            label[0, self.class_index] = 1
        self.register_buffer("label", label, persistent=False)
        self.freeze()

    def ws(self, z: torch.Tensor, *, truncation: float | None = None) -> torch.Tensor:
        """The mapping network with this model's class and truncation: z (B, z_dim) -> (B, num_ws, w_dim)."""
        psi = self.truncation if truncation is None else _psi(truncation)
        label = self.label.to(dtype=z.dtype).expand(z.shape[0], self.c_dim)
        return self.mapping(z, label, truncation_psi=psi, truncation_cutoff=self.truncation_cutoff)

    def styles(self, codes: torch.Tensor) -> torch.Tensor:
        """Per-layer styles (B, num_ws, w_dim) for codes in this model's latent space."""
        B = codes.shape[0]
        if self.latent_space == "z":
            return self.ws(codes)
        if self.latent_space == "w":
            return codes[:, None].expand(B, self.num_ws, self.w_dim)
        return codes.reshape(B, self.num_ws, self.w_dim)

    def _generate(self, codes):
        return self.synthesis(self.styles(codes), noise_mode=self.noise_mode or "const", force_fp32=True)

    def sample(self, n: int = 1, seed: int = 0) -> torch.Tensor:
        """Codes from the prior: z ~ N(0, I); w and w+ are the mapped (truncated) z.

        The mapping runs on a float64 CPU copy of the network, one code at a time, so a code
        depends on neither ``n`` nor the device.

        Returns:
            (n, latent_dim) on the generator's device and dtype.
        """
        z = normal_rows(n, self.z_dim, seed)
        if self.latent_space == "z":
            return z.to(device=self.device, dtype=self.dtype)
        mapping = copy.deepcopy(self.mapping).to(device="cpu", dtype=torch.float64)
        label = self.label.to(device="cpu", dtype=torch.float64)
        with torch.no_grad():
            ws = torch.cat([mapping(z[i:i + 1], label, truncation_psi=self.truncation,
                                    truncation_cutoff=self.truncation_cutoff) for i in range(n)])
        codes = ws[:, 0] if self.latent_space == "w" else ws.reshape(n, -1)
        return codes.to(device=self.device, dtype=self.dtype)

    def style_affines(self) -> dict:
        """Every style affine of the synthesis network: module name -> (the w+ row it reads, its matrix).

        The matrix (w_dim, in_channels), float64 on the CPU, is the map the forward pass applies
        to w (the toRGB layers' weight gain included); StyleGAN3's Fourier input is not a style.
        """
        out = {}

        def put(name, row, module, gain=1.0):
            A = module.affine.weight.detach().to(device="cpu", dtype=torch.float64) * (module.affine.weight_gain * gain)
            out[f"synthesis.{name}"] = (row, A.T)

        syn = self.synthesis
        if self.architecture == "stylegan3":
            for i, name in enumerate(syn.layer_names):
                layer = getattr(syn, name)
                gain = 1 / (layer.in_channels * layer.conv_kernel ** 2) ** 0.5 if layer.is_torgb else 1.0
                put(name, i + 1, layer, gain)
            return out
        start = 0
        for res in syn.block_resolutions:
            block = getattr(syn, f"b{res}")
            for j, part in enumerate(("conv0", "conv1") if block.in_channels else ("conv1",)):
                put(f"b{res}.{part}", start + j, getattr(block, part))
            if block.num_torgb:
                put(f"b{res}.torgb", start + block.num_conv, block.torgb, block.torgb.weight_gain)
            start += block.num_conv
        return out

    def sefa_numbering(self) -> list:
        """The layer SeFa's default uses at each w+ row (None: no style layer there): StyleGAN2's
        convolutions and last toRGB (the authors' ``layer_idx='all'``), StyleGAN3's layers."""
        numbering = [None] * self.num_ws
        for name, (row, _) in self.style_affines().items():
            last_rgb = name.endswith("torgb") and row == self.num_ws - 1
            if numbering[row] is None and (not name.endswith("torgb") or last_rgb):
                numbering[row] = name
        return numbering

    def map_options(self) -> dict:
        source = self.record.get("source") or {}
        return {"network": self.record.get("network"), "architecture": self.record.get("config"),
                "truncation": self.truncation, "truncation_cutoff": self.truncation_cutoff,
                "class_index": self.class_index, "noise_mode": self.noise_mode,
                "source": source.get("known") or "unknown", "source_sha256": source.get("sha256"),
                "pickled_code": self.record.get("pickled_code", "not run")}

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, architecture={self.record.get('config')!r}, resolution={self.resolution}, "
                f"num_ws={self.num_ws}, truncation={self.truncation}")


def _psi(value) -> float:
    try:
        psi = float(value)
    except (TypeError, ValueError):
        raise InputError(f"truncation must be a number (psi, 1 = none), got {value}", argument="truncation") from None
    if not 0.0 <= psi <= 2.0:
        raise InputError(f"truncation psi must be in [0, 2], got {value}", argument="truncation")
    return psi


def _cutoff(value, num_ws: int, latent_space: str) -> int | None:
    if value is None:
        return None
    cutoff = checks.integer("truncation_cutoff", value, minimum=1, maximum=num_ws)
    if latent_space == "w":
        raise InputError("truncation_cutoff truncates only the first styles, which one w cannot hold: use latent "
                         "space w+ or z", argument="truncation_cutoff")
    return cutoff


def _class(value, c_dim: int, name: str) -> int | None:
    if c_dim == 0:
        if value is not None:
            raise InputError(f"{name} is unconditional: class_index does not apply", argument="class_index")
        return None
    if value is None:
        raise InputError(f"{name} is conditional ({c_dim} classes): give {{class_index}} 0-{c_dim - 1}",
                         argument="class_index", mentions=("class_index",))
    return checks.integer("class_index", value, minimum=0, maximum=c_dim - 1)


def _source_record(record) -> dict:
    """What to record about the network's code: its hash, and the release it is (or that it is unknown)."""
    known = known_source(record.module_src)
    digest = source_sha256(record.module_src)
    return {"sha256": digest, "known": known[1]} if known else {"sha256": digest, "known": None}


def load_nvidia_pickle(path, *, latent_space: str | None = None, network: str = "G_ema", truncation: float = 1.0,
                       truncation_cutoff: int | None = None, class_index: int | None = None,
                       noise_mode: str = "const", trust_pickled_code: bool = False) -> NvidiaGenerator:
    """An NVIDIA StyleGAN2-ADA / StyleGAN3 network pickle as a generator, without running its code.

    Args:
        path: the ``.pkl`` file (``training/training_loop.py`` snapshots: G, D, G_ema; or only G_ema).
        latent_space: "w" (default), "z" or "w+".
        network: "G_ema" (default, the averaged generator NVIDIA's tools use) or "G".
        truncation, truncation_cutoff: psi and NVIDIA's cutoff (see :class:`NvidiaGenerator`).
        class_index: the class of a conditional model (required for one, refused otherwise).
        noise_mode: "const" (default), "none" or "random" (StyleGAN2).
        trust_pickled_code: run the file's own code through NVIDIA's loader instead (``legacy``
            and ``torch_utils`` importable from a checkout of NVIDIA's repository): only for a
            file you trust. Recorded, and warned about.

    Returns:
        A frozen :class:`NvidiaGenerator` whose ``map_options()`` records the network, the
        architecture, truncation, cutoff, class, noise mode, the code's hash and whether it is
        a known NVIDIA release, and whether the file's code ran; ``file_sha256`` the file's digest.

    Raises:
        InputError: missing file, bad option, an unknown network name, a class missing or out of range.
        WeightsError: not an NVIDIA network pickle, a refused global, a structure ganmetric
            does not know, a tensor that does not fit.

    Warns:
        UnknownSourceWarning: the network's code is not a known NVIDIA release (loaded by structure).
    """
    path = Path(path).expanduser()
    network = checks.one_of("network", network, NETWORKS)
    if trust_pickled_code:
        from .trusted import load_trusted
        mapping, synthesis, record = load_trusted(path, network)
    else:
        rec = network_record(read_network_pickle(path), network, path)
        nets = load_record(rec, where=path.name)
        source = _source_record(rec)
        mapping, synthesis = nets.mapping, nets.synthesis
        record = {"network": network, "architecture": nets.architecture, "config": nets.config, "source": source,
                  "pickled_code": "not run"}
    gen = NvidiaGenerator(mapping, synthesis, name=str(path), latent_space=latent_space or "w",
                          truncation=truncation, truncation_cutoff=truncation_cutoff, class_index=class_index,
                          noise_mode=noise_mode, record=record)
    gen.weights = {"source": "saved-file"}  # the parameters are inside the file
    gen.file_sha256 = sha256_file(path)
    source = record["source"]
    if not trust_pickled_code and source["known"] is None:  # warned once the options are known to be right
        warnings.warn(f"{path.name}: its network code (sha256 {source['sha256'][:16]}) is not a known NVIDIA "
                      f"release; loaded by structure into ganmetric's {record['config']} network, and the file's own "
                      f"code was not run", UnknownSourceWarning, stacklevel=3)
    return gen


def random_nvidia_generator(architecture: str, init_kwargs: dict, *, seed: int = 0, latent_space: str = "w",
                            truncation: float = 1.0, class_index: int | None = None, name: str | None = None
                            ) -> NvidiaGenerator:
    """A generator with NVIDIA's random initialisation, for tests and benchmarks (untrained).

    Args:
        architecture: "stylegan2" or "stylegan3".
        init_kwargs: NVIDIA's Generator arguments (``z_dim``, ``c_dim``, ``w_dim``,
            ``img_resolution``, ``img_channels``, ``mapping_kwargs``, synthesis arguments: flat,
            or nested in ``synthesis_kwargs`` as stylegan2-ada-pytorch writes them).
        seed: of the private RNG drawing the weights.
        latent_space: "w", "z" or "w+".
        truncation: psi (around ``w_avg``, zero in NVIDIA's initialisation).
        class_index: the class of a conditional network (default 0).
        name: the model name (default ``random-<config>``).

    Raises:
        InputError: an unknown architecture; WeightsError: arguments NVIDIA's networks do not take.
    """
    architecture = checks.one_of("architecture", architecture, ("stylegan2", "stylegan3"))
    nets = make_networks(architecture, init_kwargs, seed=seed)
    record = {"network": "G_ema", "architecture": architecture, "config": nets.config,
              "source": {"sha256": None, "known": "random"}, "pickled_code": "not run"}
    if class_index is None and nets.mapping.c_dim:
        class_index = 0
    gen = NvidiaGenerator(nets.mapping, nets.synthesis, name=name or f"random-{nets.config}",
                          latent_space=latent_space, truncation=truncation, class_index=class_index, record=record)
    gen.weights = {"source": "random", "seed": int(seed)}
    return gen
