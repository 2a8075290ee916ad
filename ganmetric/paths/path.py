"""``LatentPath``: a path of latent codes with its steps, length and energy under a distance."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .energy import prior_penalty


@dataclass(frozen=True)
class LatentPath:
    """A discrete path ``z_0 .. z_T`` and how far its images move under a distance.

    With ``s_i = sqrt(d(G(z_i), G(z_{i+1})))``: ``length = sum_i s_i``, ``energy =
    T sum_i s_i^2`` and ``evenness = max_i s_i / mean_i s_i`` (1 for equal steps). By
    Cauchy-Schwarz ``length^2 <= energy``, with equality exactly for equal steps.

    Attributes:
        method: "geodesic", "linear", "slerp" or "measured" (a path given to
            :func:`~ganmetric.path_length`).
        codes: (T + 1, n) codes on the CPU, in the generator's dtype.
        steps: (T,) step sizes s_i, float64.
        converged: for a geodesic, whether the last stage met the stopping rule; None for
            paths that were not optimised.
        iterations: optimiser iterations over all stages (0 if not optimised).
        seconds: wall time of the optimisation (or of the measurement).
        energies: the objective (energy plus prior penalty) after every iteration, all
            stages in order (empty if not optimised).
        stages: one record per stage of a geodesic (points, iterations, energy,
            stop_reason, seconds); ``--refine`` adds stages.
        options: every option that made the path (init, prior weight, optimiser, ...).
    """

    method: str
    codes: torch.Tensor
    steps: torch.Tensor
    converged: bool | None = None
    iterations: int = 0
    seconds: float = 0.0
    energies: list = field(default_factory=list)
    stages: list = field(default_factory=list)
    options: dict = field(default_factory=dict)

    @property
    def points(self) -> int:
        """T + 1, the number of codes (both ends included)."""
        return int(self.codes.shape[0])

    @property
    def length(self) -> float:
        """L = sum_i s_i."""
        return float(self.steps.sum())

    @property
    def energy(self) -> float:
        """E = T sum_i s_i^2."""
        return len(self.steps) * float(self.steps.pow(2).sum())

    @property
    def evenness(self) -> float | None:
        """max_i s_i / mean_i s_i (None when every step is zero)."""
        mean = float(self.steps.mean())
        return float(self.steps.max()) / mean if mean > 0 else None

    @property
    def cumulative(self) -> torch.Tensor:
        """(T + 1,) length from z_0 to each code (0 first, L last)."""
        return torch.cat([self.steps.new_zeros(1), torch.cumsum(self.steps, 0)])

    @property
    def norms(self) -> torch.Tensor:
        """(T + 1,) |z_i|, float64."""
        return self.codes.double().norm(dim=1)

    @property
    def prior_penalty(self) -> float:
        """sum_i (|z_i| - sqrt(n))^2 / n over every code (unweighted; the geodesic minimises
        energy + prior_weight times this)."""
        return float(prior_penalty(self.codes).sum())

    def summary(self) -> dict:
        """JSON-ready numbers: length, energy, evenness, norms, optimisation record, steps."""
        norms = self.norms
        return {"method": self.method, "points": self.points, "length": self.length, "energy": self.energy,
                "length_squared_over_energy": self.length ** 2 / self.energy if self.energy > 0 else None,
                "evenness": self.evenness, "steps": self.steps.tolist(), "cumulative_length": self.cumulative.tolist(),
                "norm_min": float(norms.min()), "norm_mean": float(norms.mean()), "norm_max": float(norms.max()),
                "sqrt_n": math.sqrt(self.codes.shape[1]), "prior_penalty": self.prior_penalty,
                "converged": self.converged, "iterations": self.iterations, "seconds": self.seconds,
                "stages": list(self.stages), "options": dict(self.options)}
