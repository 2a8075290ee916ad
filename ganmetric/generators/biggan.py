"""BigGAN-deep (Brock et al. 2019) through the ``pytorch-pretrained-biggan`` package.

The generator's input is the conditioning vector ``c = [noise (d), class embedding (d)]``
(d = 128 for the published models): the embedding of an ImageNet class is a column of the
model's ``embeddings`` layer (``embeddings.weight[:, class_index]``), and any continuous
d-vector is also accepted. As in Wang & Ponce (2021), the metric can be taken in three
latent spaces:

- ``full`` (2d = 256): the whole conditioning vector,
- ``noise`` (d): the noise, with the class embedding fixed,
- ``class`` (d): the class embedding, with the noise fixed.

The fixed part is the *reference point*: the full-space sample drawn with
``reference_seed`` (truncated noise, and the embedding of ``class_index`` or of a class
drawn with that seed), with ``class_embedding`` overriding its class part.

``sample(n, seed)`` draws the noise as BigGAN does: a normal truncated to [-2, 2], times
``truncation`` (the package's ``truncated_noise_sample``, numpy ``RandomState(seed)``), and
the class part as the embedding of ``class_index`` (every row), or of classes drawn
uniformly with ``seed`` when no class is chosen.

``truncation`` (0 < t <= 1) is the package's argument: it selects the stored batch-norm
statistics computed at that truncation (51 stored, at multiples of 0.02; in between, the
package interpolates with the two neighbours' weights swapped, a quirk kept as is so that
images match the package's). The batch norms use those stored statistics (never
batch statistics) and spectral normalisation uses its stored vectors in eval mode, so the
map is deterministic and row-independent.

Needs the optional extra: ``pip install "ganmetric[biggan]"``.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from .. import checks
from ..errors import InputError, WeightsError
from ..io import load_torch_file
from .base import Generator, load_state_strict
from .families import register_family
from .weights import user_weights_info

SPACES = ("full", "noise", "class")


def _package():
    try:
        import pytorch_pretrained_biggan as pkg
    except ImportError as exc:
        raise InputError("BigGAN models need the optional package pytorch-pretrained-biggan: "
                         "pip install \"ganmetric[biggan]\" (or pip install pytorch-pretrained-biggan)",
                         argument="model") from exc
    return pkg


class BigGANGenerator(Generator):
    """A ``pytorch_pretrained_biggan.BigGAN`` with its latent restricted to a subspace.

    ``forward(z)`` builds the conditioning vector ``c`` from ``z`` and the fixed reference
    part, and returns ``biggan.generator(c, truncation)`` (B, 3, R, R) in [-1, 1].

    Args:
        biggan: a ``pytorch_pretrained_biggan.BigGAN`` (it is put in eval mode and frozen;
            not copied, so do not keep training it).
        name: model name.
        latent_space: ``full``, ``noise`` or ``class``.
        truncation: 0 < t <= 1, the package's truncation (batch-norm statistics and the
            noise prior's scale).
        class_index: ImageNet class (0..num_classes-1) of the reference point and of samples.
        class_embedding: a continuous class embedding (d,) used instead of a class index for
            the reference point and samples.
        reference_seed: seed of the reference point's noise (and class, if none is chosen).

    Raises:
        InputError: unknown latent space, truncation outside (0, 1], class index out of
            range, or a class embedding of the wrong size or not finite.
    """

    def __init__(self, biggan: nn.Module, *, name: str = "biggan", latent_space: str = "full",
                 truncation: float = 1.0, class_index: int | None = None, class_embedding=None,
                 reference_seed: int = 0):
        checks.one_of("latent_space", latent_space, SPACES, what="latent space of BigGAN")
        d = int(biggan.config.z_dim)
        n_classes = int(biggan.config.num_classes)
        truncation = float(truncation)
        if not (0.0 < truncation <= 1.0) or not math.isfinite(truncation):
            raise InputError(f"BigGAN truncation must be in (0, 1], got {truncation}", argument="truncation")
        if class_index is not None and (isinstance(class_index, bool) or not isinstance(class_index, int)
                                        or not 0 <= class_index < n_classes):
            raise InputError(f"class index must be an integer in [0, {n_classes - 1}], got {class_index}",
                             argument="class_index")
        dim = 2 * d if latent_space == "full" else d
        super().__init__(name=name, latent_dim=dim, latent_space=latent_space,
                         resolution=int(getattr(biggan.config, "output_dim", 0)) or None, latent_spaces=SPACES)
        self.biggan = biggan
        self.half = d
        self.n_classes = n_classes
        self.truncation = truncation
        self.class_index = class_index
        self.freeze()
        ref_embed = None
        if class_embedding is not None:
            ref_embed = checks.latent_codes("class_embedding", class_embedding, d)[0].to(torch.float64)
        self.register_buffer("class_embedding", ref_embed, persistent=False)
        self._given_embedding = None if ref_embed is None else ref_embed.tolist()
        self.reference_seed = int(reference_seed)
        ref = self.full_sample(1, seed=reference_seed)[0]
        self.register_buffer("reference", ref, persistent=False)

    def full_sample(self, n: int = 1, seed: int = 0) -> torch.Tensor:
        """Draw ``n`` full conditioning vectors (n, 2d): truncated noise and a class embedding.

        Raises:
            InputError: n below 1, or a seed outside [0, 2**32).
        """
        checks.positive_int("n", n)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
            raise InputError(f"BigGAN seeds are integers in [0, 2**32) (numpy RandomState), got {seed}",
                             argument="seed")
        from pytorch_pretrained_biggan import truncated_noise_sample
        noise = torch.from_numpy(truncated_noise_sample(batch_size=n, dim_z=self.half, truncation=self.truncation,
                                                        seed=int(seed))).to(torch.float64)
        if self.class_embedding is not None:
            embed = self.class_embedding.to(torch.float64).expand(n, -1)
        else:
            if self.class_index is not None:
                classes = torch.full((n,), self.class_index, dtype=torch.long, device="cpu")
            else:
                gen = torch.Generator(device="cpu").manual_seed(int(seed))  # one draw a row: row i does not depend on n
                classes = torch.cat([torch.randint(self.n_classes, (1,), generator=gen, device="cpu")
                                     for _ in range(n)])
            embed = self.class_embeddings(classes).to(torch.float64)
        return torch.cat([noise.to(embed.device), embed], dim=1).to(device=self.device, dtype=self.dtype)

    def class_embeddings(self, classes) -> torch.Tensor:
        """The embeddings (len, d) of ImageNet class indices (the columns of ``embeddings.weight``).

        Raises:
            InputError: an index outside [0, num_classes).
        """
        classes = torch.as_tensor(classes, dtype=torch.long, device="cpu").reshape(-1)
        if classes.numel() and (classes.min() < 0 or classes.max() >= self.n_classes):
            raise InputError(f"class indices must be in [0, {self.n_classes - 1}], got {classes.tolist()}",
                             argument="classes")
        return self.biggan.embeddings.weight[:, classes.to(self.biggan.embeddings.weight.device)].T

    def sample(self, n: int = 1, seed: int = 0) -> torch.Tensor:
        """Codes (n, latent_dim) of this latent space: its part of :meth:`full_sample`."""
        return self.restrict(self.full_sample(n, seed))

    def restrict(self, c: torch.Tensor) -> torch.Tensor:
        """The part of full conditioning vectors (B, 2d) that this latent space varies."""
        if self.latent_space == "noise":
            return c[:, :self.half]
        if self.latent_space == "class":
            return c[:, self.half:]
        return c

    def conditioning(self, z: torch.Tensor) -> torch.Tensor:
        """Full conditioning vectors (B, 2d) for codes z (B, latent_dim) of this space."""
        if self.latent_space == "full":
            return z
        ref = self.reference.to(z.dtype).expand(z.shape[0], -1)
        if self.latent_space == "noise":
            return torch.cat([z, ref[:, self.half:]], dim=1)
        return torch.cat([ref[:, :self.half], z], dim=1)

    def _generate(self, z):
        return self.biggan.generator(self.conditioning(z), self.truncation)

    def map_options(self) -> dict:
        return {"truncation": self.truncation, "class_index": self.class_index,
                "class_embedding": self._given_embedding,
                "reference_seed": self.reference_seed}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", truncation={self.truncation}, class_index={self.class_index}"



def _resolve_files(package_name: str, weights: str | None) -> tuple[Path, Path]:
    """(config.json, pytorch_model.bin): a user folder, or the package's download cache."""
    pkg = _package()
    from pytorch_pretrained_biggan import model as pmodel
    if weights is not None:
        folder = Path(weights).expanduser()
        cfg_file, bin_file = folder / pmodel.CONFIG_NAME, folder / pmodel.WEIGHTS_NAME
        if not (cfg_file.is_file() and bin_file.is_file()):
            raise InputError(f"BigGAN weights folder {folder} must hold {pmodel.CONFIG_NAME} and "
                             f"{pmodel.WEIGHTS_NAME} (the layout BigGAN.from_pretrained reads)", argument="weights")
        return cfg_file, bin_file
    checks.one_of("weights", package_name, pmodel.PRETRAINED_MODEL_ARCHIVE_MAP, what="BigGAN weights name")
    try:
        bin_file = pkg.cached_path(pmodel.PRETRAINED_MODEL_ARCHIVE_MAP[package_name])
        cfg_file = pkg.cached_path(pmodel.PRETRAINED_CONFIG_ARCHIVE_MAP[package_name])
    except Exception as exc:  # requests' ConnectionError, botocore errors, OSError: all mean "not obtainable"
        raise WeightsError(f"could not download BigGAN weights {package_name!r} with pytorch-pretrained-biggan "
                           f"({type(exc).__name__}: offline?); with a network they are cached in "
                           f"{pkg.PYTORCH_PRETRAINED_BIGGAN_CACHE}, or pass --weights DIR (weights=DIR) holding "
                           f"config.json and pytorch_model.bin") from exc
    return Path(cfg_file), Path(bin_file)


def load_pretrained_biggan(package_name: str, weights: str | None = None) -> nn.Module:
    """A ``pytorch_pretrained_biggan.BigGAN`` with its published (or a user folder's) weights, loaded strictly.

    Files are found exactly as ``BigGAN.from_pretrained`` finds them (the package's
    ``cached_path`` download cache, or a folder with ``config.json`` and
    ``pytorch_model.bin``); the state dict is then loaded with ``strict=True`` and
    ``weights_only=True``, where the package's loader silently ignores mismatched keys.

    Raises:
        InputError: the package is missing, unknown name, incomplete folder.
        WeightsError: not downloadable (offline), unreadable, or not fitting the architecture.
    """
    pkg = _package()
    cfg_file, bin_file = _resolve_files(package_name, weights)
    try:
        config = pkg.BigGANConfig.from_json_file(str(cfg_file))
        model = pkg.BigGAN(config)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise WeightsError(f"cannot build BigGAN from {cfg_file}: {exc}") from exc
    state = load_torch_file(bin_file, what="BigGAN weights file")
    load_state_strict(model, state, bin_file, label="BigGAN weights")
    return model


@register_family("biggan")
def build_biggan(cfg: dict, *, latent_space: str = "full", weights: str | None = None, truncation: float = 1.0,
                 class_index: int | None = None, class_embedding=None, reference_seed: int = 0) -> BigGANGenerator:
    """Builder for ``family: biggan`` configs (``weights.name``: the package's model name)."""
    spec = cfg.get("weights") or {}
    package_name = spec.get("name", cfg["name"])
    model = load_pretrained_biggan(package_name, weights)
    gen = BigGANGenerator(model, name=cfg["name"], latent_space=latent_space, truncation=truncation,
                          class_index=class_index, class_embedding=class_embedding, reference_seed=reference_seed)
    gen.weights = user_weights_info(weights) if weights is not None else {"source": "pretrained",
                                                                          "package_model": package_name}
    return gen.freeze()
