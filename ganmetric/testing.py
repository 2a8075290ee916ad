"""References to check a metric against, for your own generators and distances as for ours.

Neither reference uses :mod:`ganmetric.hessian`: both differentiate (or only evaluate)
``f(z) = d(G(z0), G(z))`` itself, on float64 copies of G and D (the caller's modules are
left as they are), so they can judge the engine:

- :func:`dense_hessian`: the whole H by double backward
  (``torch.autograd.functional.hessian``). Exact, at a cost of about n backward passes
  through a graph with ``create_graph``: for small n.
- :func:`quadratic_forms`: ``v^T H v`` along given directions from values of d alone
  (symmetric quotients, Richardson extrapolation), any n.
- :func:`check_metric`: runs a method and compares what it returns with
  :func:`quadratic_forms`; returns the errors, raises :class:`MetricCheckError` past a tolerance.

Kinks (ReLU, max-pool) inside a finite-difference step make any difference quotient wrong
there; the step, 2e-5 in float64, is small enough that the seeded models of the test suite
cross none. A kink at z0 itself is where H is not defined.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from . import checks
from .errors import InputError
from .placement import module_device, module_dtype

__all__ = ["check_metric", "MetricCheck", "MetricCheckError", "dense_hessian", "quadratic_forms", "float64_copies",
           "STEP", "RTOL"]

STEP = 2e-5
"""The finite-difference step of :func:`quadratic_forms` (float64): rounding of d puts its estimate within
~1e-10 lambda_1 of v^T H v on the test suite's models (measured <= 3e-10)."""
RTOL = 1e-6
""":func:`check_metric`'s default tolerance, relative to the largest eigenvalue: three orders above the oracle's
own error, far below a wrong product or a missing factor 2 (order 1)."""


class MetricCheckError(AssertionError):
    """A method's metric disagrees with the finite-difference reference past the tolerance."""


@dataclass(frozen=True)
class MetricCheck:
    """What :func:`check_metric` compared.

    Attributes:
        method: the method that ran (``auto`` resolved).
        errors: check name -> |reference - method| / lambda_1 (see :func:`check_metric`).
        rtol: the tolerance the errors were held to.
        result: the :class:`~ganmetric.MetricResult` computed on the float64 copies.
    """

    method: str
    errors: dict
    rtol: float
    result: object

    @property
    def max_error(self) -> float:
        """The largest error."""
        return max(self.errors.values())

    @property
    def passed(self) -> bool:
        """Whether every error is within :attr:`rtol`."""
        return self.max_error <= self.rtol


def float64_copies(G, D, z) -> tuple:
    """``(G, D, z0)`` as float64 copies, z0 of shape (n,) on G's device; the caller's modules are untouched.

    G and D are copied together, so that a distance of G's own layers belongs to the copy of G.

    Args:
        G: a generator.
        D: a distance.
        z: one code, (n,) or (1, n).

    Returns:
        (G64, D64, z0): the float64 copies and z0, (n,) float64.

    Raises:
        InputError: z is not one finite code of G's latent size.
    """
    z = checks.latent_codes(z=z, latent_dim=int(G.latent_dim), name="z")
    if z.shape[0] != 1:
        raise InputError(f"z must be one code, got {z.shape[0]}", argument="z")
    with torch.no_grad():
        # A forward outside any transform first: module attributes that forward hooks set (spectral
        # normalisation's ``weight``, as in BigGAN) are left as torch.func wrappers by an earlier metric,
        # and deepcopy cannot copy those; a plain pass sets them to plain tensors again.
        G(z.to(device=module_device(G), dtype=module_dtype(G) or torch.float32))
    G64, D64 = copy.deepcopy((G, D))
    G64, D64 = G64.double(), D64.double()
    return G64, D64, z[0].detach().to(device=module_device(G64), dtype=torch.float64)


def dense_hessian(G, D, z) -> torch.Tensor:
    """The float64 Hessian of ``z -> d(G(z0), G(z))`` at z0 by double backward.

    Args:
        G: a generator (``latent_dim``, codes (B, n) -> images or what D compares).
        D: a distance.
        z: the base point z0, (n,) or (1, n).

    Returns:
        H, (n, n) float64 on G's device.

    Raises:
        InputError: z is not one finite code of G's latent size.
    """
    G, D, z0 = float64_copies(G, D, z)
    with torch.no_grad():
        x0 = D.inputs(G, z0[None])
    return torch.autograd.functional.hessian(lambda z: D(x0, D.inputs(G, z[None])).sum(), z0,
                                             vectorize=True)


def quadratic_forms(G, D, z, V: torch.Tensor, *, step: float = STEP) -> torch.Tensor:
    """Estimates of ``v^T H v`` for the rows v of V, from values of d only (no derivatives).

    For a unit v, ``f(t) = d(G(z0), G(z0 + t v)) = t^2 v^T H v / 2 + c3 t^3 + c4 t^4 + ...``; the
    symmetric quotient ``q(t) = (f(t) + f(-t)) / t^2`` cancels the odd terms, and two Richardson
    steps over t, t/2, t/4 cancel the t^2 and t^4 terms. One batched forward pass over
    ``z0 + s t v`` (s = +-1), in float64.

    Args:
        G, D, z: as for :func:`dense_hessian`.
        V: (m, n) directions (unit rows give ``v^T H v`` at the intended accuracy; ``step`` is
            along v as given).
        step: the largest step t.

    Returns:
        (m,) float64.

    Raises:
        InputError: z is not one finite code of G's latent size, V is not an (m, n) tensor, or
            step is not a finite number > 0.
    """
    step = checks.positive_float("step", step)
    G, D, z0 = float64_copies(G, D, z)
    if not isinstance(V, torch.Tensor) or V.dim() != 2 or V.shape[1] != z0.numel():
        shape = tuple(V.shape) if isinstance(V, torch.Tensor) else type(V).__name__
        raise InputError(f"V must be a tensor of directions of shape (m, {z0.numel()}), got {shape}", argument="V")
    V = V.to(device=z0.device, dtype=torch.float64)
    ts = (step, step / 2, step / 4)
    with torch.no_grad():
        x0 = D.inputs(G, z0[None])
        Z = torch.cat([z0 + s * t * V for t in ts for s in (1.0, -1.0)])
        d = D(x0.expand(Z.shape[0], *x0.shape[1:]), D.inputs(G, Z)).reshape(len(ts), 2, V.shape[0])
    q = [(d[i, 0] + d[i, 1]) / t ** 2 for i, t in enumerate(ts)]
    r = [(4 * q[i + 1] - q[i]) / 3 for i in range(2)]  # the t^2 term cancels
    return (16 * r[1] - r[0]) / 15                      # the t^4 term cancels


def check_metric(G, D, z, method: str = "auto", k: int | None = None, *, rtol: float = RTOL, probes: int = 3,
                 seed: int = 0, step: float = STEP, **options) -> MetricCheck:
    """Check a method's metric at z against :func:`quadratic_forms` (any generator, distance and method).

    The method runs through :func:`ganmetric.metric_tensor` on float64 copies of G and D
    (so float32 rounding does not hide or fake an error), then:

    - with every eigenpair (a full method, or k = n): ``v^T U diag(l) U^T v`` against the
      reference for the top eigenvector and ``probes`` random unit v (the eigenvalues and the
      eigenvectors are both checked);
    - with the top k (U: n x k): for ``probes`` unit v = U c in the span, ``sum c_i^2 l_i``; for
      a unit w orthogonal to the span, ``u_1^T H w = (q(u_1 + w) - q(u_1 - w)) / 4 = 0`` (the
      span is invariant) and ``w^T H w <= l_k`` (it is the top of the spectrum).

    Each error is relative to the largest eigenvalue lambda_1.

    Args:
        G, D, z: as for :func:`dense_hessian`.
        method, k, options: as for :func:`ganmetric.metric_tensor` (``eps``, ``tol``, ``chunk``...).
        rtol: largest error allowed, relative to lambda_1.
        probes: random directions per check.
        seed: seed of the random directions.
        step: the reference's finite-difference step.

    Returns:
        MetricCheck (the errors, and the result on the float64 copies).

    Raises:
        MetricCheckError: an error above ``rtol``, naming the check, the error and the tolerance.
        InputError: bad arguments (as :func:`ganmetric.metric_tensor` says), or rtol, probes,
            seed or step out of range (naming the argument).
    """
    from .hessian import metric_tensor  # the engine under test: imported when a check runs

    rtol = checks.positive_float("rtol", rtol)
    probes = checks.positive_int("probes", probes)
    step = checks.positive_float("step", step)
    seed = checks.seed(value=seed, name="seed")  # keywords: the same call under either argument order
    G64, D64, z0 = float64_copies(G, D, z)
    res = metric_tensor(G64, D64, z0, method=method, k=k, **options)
    U, lam = res.eigvecs.to(torch.float64), res.eigvals.to(torch.float64)
    n, kk = z0.numel(), lam.numel()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    if kk == n:
        V = torch.cat([U[:, :1].T, _unit_rows(probes, n, gen).to(U)])
        fd = quadratic_forms(G64, D64, z0, V, step=step)
        predicted = ((V @ U) ** 2 * lam).sum(1)
        names = ["top eigenvector"] + [f"random direction {i}" for i in range(probes)]
        gaps = (fd - predicted).abs()
    else:
        C = _unit_rows(probes, kk, gen).to(U)
        W = _unit_rows(1, n, gen).to(U)
        W = W - (W @ U) @ U.T
        W = W / W.norm(dim=1, keepdim=True)
        u1 = U[:, 0][None]
        fd = quadratic_forms(G64, D64, z0, torch.cat([C @ U.T, W, u1 + W, u1 - W]), step=step)
        gaps = torch.cat([(fd[:probes] - (C ** 2 * lam).sum(1)).abs(),
                          ((fd[probes + 1] - fd[probes + 2]) / 4).abs()[None],
                          (fd[probes] - lam[-1]).clamp_min(0)[None]])
        names = [f"direction {i} in the top-{kk} span" for i in range(probes)]
        names += [f"u_1^T H w for w outside the top-{kk} span (0 for an invariant span)",
                  f"w^T H w above l_{kk} for w outside the span (not the top of the spectrum)"]
    scale = max(float(lam.abs().max()), float(fd.abs().max()), torch.finfo(torch.float64).tiny)
    errors = {name: float(gap) / scale for name, gap in zip(names, gaps)}
    check = MetricCheck(res.method, errors, float(rtol), res)
    if not check.passed:
        worst = max(errors, key=errors.get)
        raise MetricCheckError(
            f"{res.method} on {getattr(G, 'name', type(G).__name__)} with {getattr(D, 'name', type(D).__name__)}: "
            f"{worst}: off by {errors[worst]:.3g} of lambda_1 against finite differences of d (tolerance {rtol:g}); "
            f"a kink (ReLU, max-pool) within {step:g} of z also moves the reference")
    return check


def _unit_rows(m: int, n: int, gen: torch.Generator) -> torch.Tensor:
    """m random unit rows (m, n), float64 on the CPU."""
    V = torch.randn(m, n, generator=gen, dtype=torch.float64)
    return V / V.norm(dim=1, keepdim=True).clamp_min(math.ulp(0.0))
