"""``geodesic``: the discrete geodesic between two codes, the path of least energy under a distance.

For a path ``z_0 .. z_T`` with fixed ends and steps ``s_i = sqrt(d(G(z_i), G(z_{i+1})))``,
the discrete geodesic minimises ``E = T sum_i s_i^2`` (plus an optional prior penalty) over
the interior codes. At the optimum the steps are equal, which minimising the length
``L = sum_i s_i`` would not give (L does not care how the points are spaced along the path).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import torch

from .. import checks
from .._progress import progress_bar
from ..errors import InputError, NumericalWarning
from ..placement import placement
from ..precision import exact_float32
from .energy import PathEnergy, check_chunk, needs_features
from .interpolation import INTERPOLATIONS, check_points, endpoints, halve_steps
from .measure import measured
from .optimize import identity_preconditioner, metric_factor, metric_preconditioner, minimize
from .path import LatentPath

OPTIMIZERS = {
    "metric-lbfgs": "L-BFGS in coordinates preconditioned by the metric at the starting path's middle code and by "
                    "the chain's second differences (default; one metric computation, then ~1 batched generator "
                    "pass per iteration)",
    "lbfgs": "L-BFGS on the codes themselves (no metric computed; many more iterations)",
}
"""Optimisers of the energy, name -> what it does (the CLI's --optimizer help reads it)."""
DEFAULT_MAX_ITER = 200
DEFAULT_TOL = 1e-4
#: a refined geodesic has (points - 1) * 2^refine + 1 codes, at most this many
MAX_POINTS = 4097


@dataclass(frozen=True)
class GeodesicOptions:
    """The checked options of a geodesic (see :func:`geodesic`)."""

    points: int
    init: str
    prior_weight: float
    refine: int
    optimizer: str
    max_iter: int
    tol: float
    chunk: int

    @property
    def final_points(self) -> int:
        """Codes of the path after every refinement: (points - 1) * 2^refine + 1."""
        return (self.points - 1) * 2 ** self.refine + 1

    def record(self) -> dict:
        """The options as recorded in results."""
        return {"points": self.points, "final_points": self.final_points, "init": self.init,
                "prior_weight": self.prior_weight, "refine": self.refine, "optimizer": self.optimizer,
                "max_iter": self.max_iter, "tol": self.tol, "chunk": self.chunk}


def geodesic_options(*, points=16, init="linear", prior_weight=0.0, refine=0, optimizer="metric-lbfgs",
                     max_iter=DEFAULT_MAX_ITER, tol=DEFAULT_TOL, chunk=None) -> GeodesicOptions:
    """Check a geodesic's options (defaults for None).

    Raises:
        InputError: naming the first bad option.
    """
    points = check_points(16 if points is None else points)
    refine = checks.integer("refine", 0 if refine is None else refine, minimum=0)
    prior_weight = checks.non_negative_float("prior_weight", 0.0 if prior_weight is None else prior_weight)
    opts = GeodesicOptions(points=points, init=checks.one_of("init", init or "linear", INTERPOLATIONS),
                           prior_weight=prior_weight,
                           refine=refine, optimizer=checks.one_of("optimizer", optimizer or "metric-lbfgs", OPTIMIZERS),
                           max_iter=checks.positive_int("max_iter", DEFAULT_MAX_ITER if max_iter is None else max_iter),
                           tol=checks.positive_float("tol", DEFAULT_TOL if tol is None else tol),
                           chunk=check_chunk(chunk))
    if opts.final_points > MAX_POINTS:
        raise InputError(f"{refine} refinements of a path of {points} points would make {opts.final_points} codes; "
                         f"at most {MAX_POINTS} are allowed", argument="refine")
    return opts


def geodesic(G, D, z_a, z_b, points: int = 16, init: str = "linear", *, prior_weight: float = 0.0,
             refine: int = 0, optimizer: str = "metric-lbfgs", max_iter: int = DEFAULT_MAX_ITER,
             tol: float = DEFAULT_TOL, chunk: int | None = None, progress: bool = False) -> LatentPath:
    """The discrete geodesic from z_a to z_b: the path of least energy under a distance.

    Minimises ``E + w sum_i (|z_i| - sqrt(n))^2 / n`` over the interior codes, where
    ``E = T sum_i s_i^2`` and ``s_i^2 = d(G(z_i), G(z_{i+1}))``, starting from ``init``. Each
    iteration evaluates all interior codes in one batched generator pass (``chunk`` codes at
    a time). It stops when the objective's relative decrease, averaged over the last 5
    iterations, falls below ``tol``, or after ``max_iter`` iterations. With ``refine = r``
    the converged path gets a midpoint between every two codes and is optimised again, r
    times (coarse to fine).

    Args:
        G: a :class:`~ganmetric.Generator`; not modified.
        D: a distance with the squared-feature form (mse, lpips-*, a layer distance).
        z_a, z_b: the endpoints, shape (n,) or (1, n); they stay fixed.
        points: codes of the starting path, both ends included, >= 3.
        init: the starting path, "linear" or "slerp".
        prior_weight: w >= 0; > 0 keeps the codes near the shell |z| = sqrt(n) where a
            standard normal prior's codes live (the penalty sums over the codes, so it weighs
            more on longer paths).
        refine: times to double the number of steps after convergence, >= 0.
        optimizer: a key of :data:`OPTIMIZERS`.
        max_iter: iterations at most, per stage.
        tol: relative-change tolerance of the stopping rule, > 0.
        chunk: codes per generator pass (default 64; bounds memory).
        progress: show a progress bar.

    Returns:
        A :class:`LatentPath` with method "geodesic" and ``(points - 1) * 2^refine + 1``
        codes on the CPU.

    Raises:
        InputError: endpoints of the wrong size, non-finite or identical; points < 3; a bad
            option; a distance without features or of another dtype than G.
    """
    opts = geodesic_options(points=points, init=init, prior_weight=prior_weight, refine=refine,
                            optimizer=optimizer, max_iter=max_iter, tol=tol, chunk=chunk)
    needs_features(D)
    a, b = endpoints(z_a, z_b, int(G.latent_dim))
    return run_geodesic(G, D, a, b, opts, progress=progress)


@exact_float32
def run_geodesic(G, D, a: torch.Tensor, b: torch.Tensor, opts: GeodesicOptions, *,
                 progress: bool = False, stop=None) -> LatentPath:
    """:func:`geodesic` with endpoints and options already checked.

    ``stop()`` is asked before every iteration; when it returns True the path is returned as
    it is after the current iteration (not converged, its last stage's ``stop_reason``
    "interrupted"); the refinements not reached only insert their midpoints, so the path
    still has ``(points - 1) * 2^refine + 1`` codes, as every path of a comparison does.
    """
    t0 = time.perf_counter()
    place = placement(G)
    a, b = a.to(**place), b.to(**place)
    energy = PathEnergy(G, D, a, b, prior_weight=opts.prior_weight, chunk=opts.chunk)
    codes = INTERPOLATIONS[opts.init](a, b, opts.points).to(**place)
    factor, record = _factor(G, D, codes, opts)
    stages, values, iterations = [], [], 0
    for stage in range(opts.refine + 1):
        if stage:
            codes = halve_steps(codes)
        codes, found, seconds = _stage(energy, codes, factor, opts, progress=progress,
                                       desc=f"geodesic {codes.shape[0]} points", stop=stop)
        stages.append({"points": int(codes.shape[0]), "iterations": found.iterations, "objective": found.values[-1],
                       "stop_reason": found.stop_reason, "seconds": seconds})
        values += found.values[1:] if stage else found.values
        iterations += found.iterations
        if found.stop_reason == "interrupted":
            for _ in range(opts.refine - stage):
                codes = halve_steps(codes)
            break
    if stages[-1]["stop_reason"] == "max_iter":
        warnings.warn(f"the geodesic did not meet its stopping rule in max_iter={opts.max_iter} iterations "
                      f"(relative change still above tol={opts.tol:g})", NumericalWarning, stacklevel=3)
    return measured("geodesic", G, D, codes, opts.chunk, converged=found.converged, iterations=iterations,
                    seconds=time.perf_counter() - t0, energies=values, stages=stages,
                    options={**opts.record(), **record, "evaluations": energy.evaluations})


def _factor(G, D, codes: torch.Tensor, opts: GeodesicOptions):
    """The metric part of the preconditioner (None for plain L-BFGS) and what it recorded."""
    if opts.optimizer != "metric-lbfgs":
        return None, {}
    with warnings.catch_warnings():  # a preconditioner needs no accurate eigenpairs
        warnings.simplefilter("ignore", NumericalWarning)
        factor = metric_factor(G, D, codes[codes.shape[0] // 2], chunk=opts.chunk)
    return factor, factor.info


def _stage(energy: PathEnergy, codes: torch.Tensor, factor, opts: GeodesicOptions, *, progress: bool, desc: str,
           stop=None):
    """Minimise the objective over the interior codes of one path; returns (codes, Minimum, seconds)."""
    t0 = time.perf_counter()
    inner0 = codes[1:-1].double()
    T = codes.shape[0] - 1
    pre = metric_preconditioner(factor, T, inner0.device) if factor is not None else \
        identity_preconditioner(inner0.shape[1], inner0.device)

    def fun(x):
        C = x.reshape(inner0.shape)
        ev = energy.evaluate(inner0 + pre.apply(C))
        return ev.objective, pre.pull(ev.grad).reshape(-1)

    bar = progress_bar(range(opts.max_iter), enable=progress, desc=desc, unit="it")
    on_iter = None
    if progress:
        it = iter(bar)

        def on_iter(value):
            next(it, None)
            bar.set_postfix(objective=f"{value:.5g}")

    found = minimize(fun, torch.zeros(inner0.numel(), dtype=torch.float64, device=inner0.device),
                     max_iter=opts.max_iter, tol=opts.tol, on_iter=on_iter, stop=stop)
    if progress:
        bar.close()
    inner = inner0 + pre.apply(found.x.reshape(inner0.shape))
    out = torch.cat([codes[:1], inner.to(codes.dtype), codes[-1:]])
    return out, found, time.perf_counter() - t0
