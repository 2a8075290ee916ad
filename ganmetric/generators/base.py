"""The Generator interface every adapter implements."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from .. import checks
from ..errors import InputError, NotDeterministicError, WeightsError
from ..placement import SupportedDtypes, module_device, module_dtype


def load_state_strict(module: nn.Module, state: dict, where, *, label: str = "weights") -> None:
    """``load_state_dict(strict=True)`` with a one-line WeightsError naming the first mismatch.

    Raises:
        WeightsError: missing or unexpected keys, or shape mismatches.
    """
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
        raise WeightsError(f"{label} {where} do not fit the architecture: {detail[:300]}") from exc


def normal_rows(n: int, dim: int, seed: int) -> torch.Tensor:
    """(n, dim) float64 standard normal draws on the CPU, row by row from one seeded private
    generator, so that row i does not depend on n (torch draws large blocks in a different order)
    nor on the device the codes are used on.

    Raises:
        InputError: n is not a positive integer, or seed is not in [0, 2**63).
    """
    checks.positive_int("n", n)
    gen = torch.Generator(device="cpu").manual_seed(checks.seed("seed", seed))
    return torch.stack([torch.randn(dim, generator=gen, dtype=torch.float64, device="cpu") for _ in range(n)])


@contextlib.contextmanager
def cpu_init_seed(seed: int):
    """``with cpu_init_seed(s):`` build modules on the CPU with torch's default initialisation under seed ``s``.

    A module's default initialisation draws from torch's global CPU generator, which cannot be
    replaced by a private one: this seeds that generator alone (never ``torch.manual_seed``,
    which also reseeds every CUDA/MPS generator of the user's) and restores its state
    afterwards, and builds on the CPU whatever the default device, so the weights are the same
    on every machine and the caller's random streams are left as they were.
    """
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.random.default_generator.manual_seed(int(seed))
        yield


class Generator(SupportedDtypes, nn.Module):
    """A frozen, deterministic map from latent codes to images.

    ``forward(z)`` takes codes of shape (B, latent_dim) and returns images of shape
    (B, C, H, W) in [-1, 1]. Rows are independent (no cross-sample statistics), which
    lets the Hessian engine batch many products into one pass. The module is always in
    eval mode with ``requires_grad=False`` parameters; ``train()`` is refused.

    Subclasses implement ``_generate(z)``, may override ``sample`` for a non-Gaussian
    prior, and override ``map_options`` to name every option that changes their map.

    Attributes:
        name: model name as the user wrote it (registry name, config or file path, or
            ``module.path:factory``).
        latent_dim: size n of one latent code.
        latent_space: name of the latent space (e.g. "z", "w", "w+", "noise").
        resolution: output image side in pixels (None if unknown).
        latent_spaces: every latent space this model offers.
        weights: where the parameters came from, recorded in result files:
            ``{"source": "pretrained", "sha256": ...}`` (a config's verified weights),
            ``{"source": "file", "path": ..., "sha256": ...}`` (a user's file),
            ``{"source": "random", "seed": ...}`` (seeded random weights, e.g. a demo model),
            None (the module's untrained initial weights), or "unknown" (built directly in Python).
        file_sha256: sha256 of the model file itself (saved generators and config files), else None.
    """

    def __init__(self, *, name: str, latent_dim: int, latent_space: str = "z",
                 resolution: int | None = None, latent_spaces: tuple[str, ...] | None = None):
        super().__init__()
        self.name = name
        self.latent_dim = int(latent_dim)
        self.latent_space = latent_space
        self.resolution = resolution
        self.latent_spaces = tuple(latent_spaces or (latent_space,))
        self.weights = "unknown"
        self.file_sha256 = None

    def map_options(self) -> dict:
        """Every option of this model that changes the map z -> image, with its value in effect
        (e.g. a conditional model's class). Recorded in result files and compared on reuse."""
        return {}

    def freeze(self) -> "Generator":
        """Put every submodule in eval mode and stop gradients to parameters."""
        super().train(False)
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> "Generator":  # noqa: D401 - nn.Module API
        if mode:
            raise NotDeterministicError("ganmetric generators are always in eval mode (the metric needs a "
                                        "deterministic map)")
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return module_device(self)

    @property
    def dtype(self) -> torch.dtype:
        return module_dtype(self) or torch.get_default_dtype()

    def sample(self, n: int = 1, seed: int = 0) -> torch.Tensor:
        """Draw ``n`` codes from the model's prior (standard normal by default).

        Row ``i`` is the ``i``-th draw of a private generator seeded with ``seed``, drawn
        row by row, so it does not depend on ``n``: ``sample(20, s)[:6] == sample(6, s)``,
        and ``sample(1, s)`` is point 0 of a batch drawn with seed ``s``.

        Args:
            n: number of codes.
            seed: seed of a private ``torch.Generator`` (the global RNG is untouched).

        Returns:
            Tensor of shape (n, latent_dim) on the generator's device and dtype.
        """
        z = normal_rows(n, self.latent_dim, seed)
        return z.to(device=self.device, dtype=self.dtype)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1] for codes z of shape (B, latent_dim)."""
        if z.dim() != 2 or z.shape[-1] != self.latent_dim:
            raise InputError(f"{self.name}: expected codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}",
                             argument="z")
        return self._generate(z)

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"name={self.name!r}, latent_space={self.latent_space!r}, latent_dim={self.latent_dim}"


class ModuleGenerator(Generator):
    """Wraps any ``nn.Module`` (or callable module) mapping (B, n) codes to images.

    Args:
        module: the network; called as ``module(z)``.
        name: the model's name in result files (e.g. ``module.path:factory``).
        latent_dim: n.
        output_range: "-1,1" (used as is) or "0,1" (rescaled by 2x - 1).
        input_shape: "flat" passes (B, n); "nchw" passes (B, n, 1, 1) (DCGAN-style inputs).
        resolution: the images' side in pixels, when known.
        latent_space: the latent space's name.
    """

    def __init__(self, module: nn.Module, *, name: str, latent_dim: int, output_range: str = "-1,1",
                 input_shape: str = "flat", resolution: int | None = None, latent_space: str = "z"):
        super().__init__(name=name, latent_dim=latent_dim, latent_space=latent_space, resolution=resolution)
        checks.one_of("output_range", output_range, ("-1,1", "0,1"), what="output range")
        checks.one_of("input_shape", input_shape, ("flat", "nchw"), what="input shape")
        self.net = module
        self.output_range = output_range
        self.input_shape = input_shape
        self.freeze()

    def map_options(self) -> dict:
        return {"output_range": self.output_range, "input_shape": self.input_shape}

    def _generate(self, z):
        x = self.net(z[:, :, None, None] if self.input_shape == "nchw" else z)
        return 2 * x - 1 if self.output_range == "0,1" else x
