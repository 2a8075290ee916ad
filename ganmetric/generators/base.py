"""The Generator interface every adapter implements."""
from __future__ import annotations

import torch
from torch import nn

from .. import checks
from ..errors import WeightsError


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


class Generator(nn.Module):
    """A frozen, deterministic map from latent codes to images.

    ``forward(z)`` takes codes of shape (B, latent_dim) and returns images of shape
    (B, C, H, W) in [-1, 1]. Rows are independent (no cross-sample statistics), which
    lets the Hessian engine batch many products into one pass. The module is always in
    eval mode with ``requires_grad=False`` parameters; ``train()`` is refused.

    Subclasses implement ``_generate(z)`` and may override ``sample`` for a non-Gaussian
    prior.

    Attributes:
        name: model name (registry key or file name).
        latent_dim: size n of one latent code.
        latent_space: name of the latent space (e.g. "z", "w", "w+", "noise").
        resolution: output image side in pixels (None if unknown).
        latent_spaces: every latent space this model offers.
    """

    def __init__(self, *, name: str, latent_dim: int, latent_space: str = "z",
                 resolution: int | None = None, latent_spaces: tuple[str, ...] | None = None):
        super().__init__()
        self.name = name
        self.latent_dim = int(latent_dim)
        self.latent_space = latent_space
        self.resolution = resolution
        self.latent_spaces = tuple(latent_spaces or (latent_space,))

    def freeze(self) -> "Generator":
        """Put every submodule in eval mode and stop gradients to parameters."""
        super().train(False)
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> "Generator":  # noqa: D401 - nn.Module API
        if mode:
            raise RuntimeError("ganmetric generators are always in eval mode (the metric needs a deterministic map)")
        return super().train(False)

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        for t in list(self.parameters()) + list(self.buffers()):
            if t.is_floating_point():
                return t.dtype
        return torch.get_default_dtype()

    def sample(self, n: int = 1, seed: int = 0) -> torch.Tensor:
        """Draw ``n`` codes from the model's prior (standard normal by default).

        Args:
            n: number of codes.
            seed: seed of a private ``torch.Generator`` (the global RNG is untouched).

        Returns:
            Tensor of shape (n, latent_dim) on the generator's device and dtype.
        """
        checks.positive_int("n", n)
        gen = torch.Generator().manual_seed(int(seed))
        z = torch.randn(n, self.latent_dim, generator=gen, dtype=torch.float64)
        return z.to(device=self.device, dtype=self.dtype)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1] for codes z of shape (B, latent_dim)."""
        if z.dim() != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"{self.name}: expected codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self._generate(z)

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"name={self.name!r}, latent_space={self.latent_space!r}, latent_dim={self.latent_dim}"


class ModuleGenerator(Generator):
    """Wraps any ``nn.Module`` (or callable module) mapping (B, n) codes to images.

    Args:
        module: the network; called as ``module(z)``.
        latent_dim: n.
        output_range: "-1,1" (used as is) or "0,1" (rescaled by 2x - 1).
        input_shape: "flat" passes (B, n); "nchw" passes (B, n, 1, 1) (DCGAN-style inputs).
    """

    def __init__(self, module: nn.Module, *, name: str, latent_dim: int, output_range: str = "-1,1",
                 input_shape: str = "flat", resolution: int | None = None, latent_space: str = "z"):
        super().__init__(name=name, latent_dim=latent_dim, latent_space=latent_space, resolution=resolution)
        checks.one_of("output range", output_range, ("-1,1", "0,1"))
        checks.one_of("input shape", input_shape, ("flat", "nchw"))
        self.net = module
        self.output_range = output_range
        self.input_shape = input_shape
        self.freeze()

    def _generate(self, z):
        x = self.net(z[:, :, None, None] if self.input_shape == "nchw" else z)
        return 2 * x - 1 if self.output_range == "0,1" else x
