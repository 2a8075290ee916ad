"""The energy of a discrete path and its gradient, from batched generator + feature passes.

For a distance with the squared-feature form ``d(x, y) = ||psi(x) - psi(y)||^2`` the
steps of a path ``z_0 .. z_T`` are ``s_i^2 = ||F_{i+1} - F_i||^2`` with ``F_i = psi(G(z_i))``,
so one batched pass over the codes gives every step, and the energy
``E = T sum_i s_i^2`` has the gradient ``dE/dF_i = 2T (2 F_i - F_{i-1} - F_{i+1})`` at an
interior code: one more backward pass through G and psi carries it to the codes.
``chunk`` codes go through G at a time, so memory does not grow with the number of points
(with several chunks the features are computed once without a graph, then each chunk
again with one: two forward passes instead of one).

The prior penalty ``w sum_i (|z_i| - sqrt(n))^2 / n`` keeps codes near the shell where
a standard normal prior's codes live.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import checks
from ..chunking import DEFAULT_CHUNK
from ..errors import InputError
from ..placement import check_same_dtype, placement


def check_chunk(chunk) -> int:
    """``chunk`` as a positive integer (None: :data:`ganmetric.chunking.DEFAULT_CHUNK`).

    Raises:
        InputError: not a positive integer.
    """
    return DEFAULT_CHUNK if chunk is None else checks.positive_int("chunk", chunk)


def needs_features(D, what: str = "a geodesic") -> None:
    """Refuse a distance without the squared-feature form.

    Raises:
        InputError: naming the distance.
    """
    if not getattr(D, "has_features", False):
        raise InputError(f"{what} needs a distance with the squared-feature form d(x, y) = |psi(x) - psi(y)|^2 "
                         f"(mse, the lpips distances, layer distances); {getattr(D, 'name', 'this distance')} has "
                         f"none", argument="D")


def prior_penalty(codes: torch.Tensor) -> torch.Tensor:
    """Per code ``(|z_i| - sqrt(n))^2 / n`` for codes (m, n), as (m,) float64."""
    n = codes.shape[1]
    return (codes.double().norm(dim=1) - math.sqrt(n)).pow(2) / n


def prior_gradient(codes: torch.Tensor, weight: float) -> torch.Tensor:
    """Gradient of ``weight * sum_i (|z_i| - sqrt(n))^2 / n`` with respect to codes (m, n), float64."""
    z = codes.double()
    norms = z.norm(dim=1, keepdim=True)
    n = z.shape[1]
    # at z = 0 the penalty's gradient is undefined; any unit direction is a subgradient: use none
    scale = torch.where(norms > 0, 2 * weight * (norms - math.sqrt(n)) / (n * norms.clamp_min(1e-300)),
                        torch.zeros_like(norms))
    return scale * z


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a path's objective.

    Attributes:
        energy: E = T sum_i s_i^2 (float64).
        objective: E plus the prior penalty's weighted sum.
        steps2: (T,) squared steps s_i^2, float64 on the CPU.
        grad: (T - 1, n) gradient of the objective at the interior codes (float64, the codes'
            device), or None when not asked for.
    """

    energy: float
    objective: float
    steps2: torch.Tensor
    grad: torch.Tensor | None


class PathEnergy:
    """The energy of paths between two fixed endpoints for one generator and distance.

    Args:
        G: generator; D: a distance with features (same dtype as G).
        z_a, z_b: endpoints, shape (n,).
        prior_weight: w >= 0 of the prior penalty.
        chunk: codes per generator pass.

    Attributes:
        evaluations: number of objective evaluations so far.

    Raises:
        InputError: a distance without features, dtypes that differ, a bad weight or chunk.
    """

    def __init__(self, G, D, z_a: torch.Tensor, z_b: torch.Tensor, *, prior_weight: float = 0.0,
                 chunk: int | None = None):
        needs_features(D)
        check_same_dtype(G, D)
        self.G, self.D = G, D
        self.place = placement(G)
        self.chunk = check_chunk(chunk)
        self.prior_weight = checks.non_negative_float("prior_weight", prior_weight)
        self.z_a, self.z_b = z_a.to(**self.place), z_b.to(**self.place)
        with torch.no_grad():
            ends = self._psi(torch.stack([self.z_a, self.z_b]))
        self.f_a, self.f_b = ends[:1].double(), ends[1:].double()
        self.evaluations = 0

    def _psi(self, Z: torch.Tensor) -> torch.Tensor:
        return self.D.features(self.D.inputs(self.G, Z)).flatten(1)

    def features(self, Z: torch.Tensor) -> torch.Tensor:
        """psi(G(Z)) of codes (m, n), chunk by chunk, without a graph: (m, F) float64."""
        with torch.no_grad():
            return torch.cat([self._psi(Z[s:s + self.chunk].to(**self.place)).double()
                              for s in range(0, Z.shape[0], self.chunk)])

    def evaluate(self, inner: torch.Tensor, *, grad: bool = True) -> Evaluation:
        """The objective at the interior codes ``inner`` (T - 1, n), with its gradient if asked."""
        self.evaluations += 1
        inner = inner.detach().to(**self.place)
        T = inner.shape[0] + 1
        graph = grad and inner.shape[0] <= self.chunk  # one pass with its graph: the usual case
        if graph:
            Z = inner.requires_grad_(True)
            with torch.enable_grad():
                F_in = self._psi(Z)
            middle = F_in.detach().double()
        else:
            middle = self.features(inner)
        diffs = torch.diff(torch.cat([self.f_a, middle, self.f_b]), dim=0)
        steps2 = diffs.pow(2).sum(dim=1)
        energy = T * float(steps2.sum())
        objective = energy + self.prior_weight * float(prior_penalty(inner.detach()).sum())
        g = None
        if grad:
            dF = 2 * T * (diffs[:-1] - diffs[1:])  # dE/dF_i = 2T ((F_i - F_{i-1}) - (F_{i+1} - F_i))
            g = _backward(Z, F_in, dF) if graph else self._chunked_backward(inner, dF)
            if self.prior_weight > 0:
                g = g + prior_gradient(inner.detach(), self.prior_weight)
        return Evaluation(energy=energy, objective=objective, steps2=steps2.cpu(), grad=g)

    def _chunked_backward(self, inner: torch.Tensor, dF: torch.Tensor) -> torch.Tensor:
        """dF (T - 1, F) carried back to the codes, recomputing each chunk's features with a graph."""
        parts = []
        for s in range(0, inner.shape[0], self.chunk):
            Z = inner[s:s + self.chunk].clone().requires_grad_(True)
            with torch.enable_grad():
                F = self._psi(Z)
            parts.append(_backward(Z, F, dF[s:s + self.chunk]))
        return torch.cat(parts)


def _backward(Z: torch.Tensor, F: torch.Tensor, dF: torch.Tensor) -> torch.Tensor:
    """The vector-Jacobian product dF^T dF/dZ, float64."""
    (g,) = torch.autograd.grad(F, Z, grad_outputs=dF.to(F.dtype))
    return g.double()
