"""Calibrated steps: the amounts along each axis at which the image has changed by evenly spaced distances.

For each axis u (eigenvalue lambda), side s = +-1 and target d, the search solves
``d(G(z0), G(walk(z0, s u, t))) = d`` for t in (0, max_step]:

1. start at the metric's prediction ``t = sqrt(2 d / lambda)`` (divided by |z0| on the sphere);
2. bracket: grow t until the distance passes the target, never beyond ``max_step``; a
   target the distance does not reach by then is *unreached*, and that side of the axis is
   scanned on 32 even steps up to ``max_step`` for the largest distance it reaches;
3. refine: bisect on the real distance until ``|f - d| <= rtol d`` (each round tries where
   sqrt(distance), nearly linear in t, would hit the target; a try that does not halve the
   bracket is followed by a plain bisection step, so the bracket at least halves every two
   rounds).

All axes, sides and targets advance together, one batched generator pass per round.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import checks
from .._progress import progress_bar
from ..errors import InputError
from ..placement import check_same_dtype, placement
from ..precision import exact_float32
from .apply import _axis_vector, _reference, walk
from .curves import _distances


@dataclass(frozen=True)
class CalibratedSteps:
    """Steps along each axis at which the image has moved by evenly spaced distances.

    Columns run from the most negative step to the most positive, the reference (t = 0)
    in the middle: column ``m + j`` (j = 1..m) targets ``targets[j-1]`` on the positive
    side, column ``m - j`` the same target on the negative side.

    Attributes:
        indices: (A,) axis indices.
        targets: (m,) target distances ``D/m, 2D/m, ..., D``.
        steps: (A, 2m+1) signed amounts found (latent units; radians on the sphere). For an
            unreached target: the step, within ``max_step``, with the largest distance found
            (over 32 even steps up to ``max_step`` and every step the search tried).
        distances: (A, 2m+1) real distances achieved at those steps.
        predicted_steps: (A, 2m+1) the metric's starting guesses ``sqrt(2 d / lambda)``
            (capped at ``max_step``).
        reached: (A, 2m+1) False where the distance stays below the target for every
            |t| <= ``max_step`` that was tried (it saturates, or the sphere ends at pi).
        largest: (A, 2) the largest distance found on the negative and the positive side.
        max_step: the search bound on |t| (latent units; radians on the sphere).
        sphere: spherical steps.
        evaluations: batched generator passes used.
        distance: the distance's name (e.g. "mse"), or None.
    """

    indices: np.ndarray
    targets: np.ndarray
    steps: np.ndarray
    distances: np.ndarray
    predicted_steps: np.ndarray
    reached: np.ndarray
    largest: np.ndarray
    max_step: float
    sphere: bool
    evaluations: int
    distance: str | None = None

    def target_table(self) -> np.ndarray:
        """(2m+1,) the target of each column: ``D, ..., D/m, 0, D/m, ..., D``."""
        return np.concatenate([self.targets[::-1], [0.0], self.targets])

    def to_csv(self, *, eigvals=None) -> str:
        """CSV text, one row per (axis, column): axis, eigval, column, step, distance, target, reached,
        predicted_step.

        Args:
            eigvals: the eigenvalue of each axis index (e.g. ``axes.eigvals``), or None.
        """
        want = self.target_table()
        lines = ["axis,eigval,column,step,distance,target,reached,predicted_step"]
        for r, i in enumerate(self.indices):
            lam = "" if eigvals is None else f"{float(eigvals[int(i)]):.6g}"
            for c in range(len(want)):
                lines.append(f"{int(i)},{lam},{c},{self.steps[r, c]:.6g},{self.distances[r, c]:.6g},{want[c]:.6g},"
                             f"{int(self.reached[r, c])},{self.predicted_steps[r, c]:.6g}")
        return "\n".join(lines) + "\n"

    def max_relative_error(self) -> float:
        """Largest ``|achieved - target| / target`` over the reached targets (NaN when none was reached).

        The reference column (target 0) and unreached targets are left out.
        """
        want = self.target_table()
        err = np.abs(self.distances - want[None]) / np.where(want > 0, want, 1.0)[None]
        counted = self.reached & (want > 0)[None]
        return float(err[counted].max()) if counted.any() else float("nan")

    def unreached_rows(self) -> list[int]:
        """Row numbers (positions in ``indices``) with at least one unreached target."""
        return [r for r in range(len(self.indices)) if not self.reached[r].all()]


@dataclass(frozen=True)
class _Problems:
    """One root-finding problem per (axis, side, target), flattened axis-major."""

    z: torch.Tensor        # (n,) reference code
    us: list               # A unit axes
    axis: np.ndarray       # (P,) row of each problem
    side: np.ndarray       # (P,) +1 / -1
    want: np.ndarray       # (P,) target distance
    t0: np.ndarray         # (P,) the metric's prediction, capped at the bound
    bound: float           # max |t|
    sphere: bool


@dataclass
class _Search:
    """The state of every problem: its bracket [lo, hi], the try closest to its target and the largest distance."""

    lo: np.ndarray
    f_lo: np.ndarray
    hi: np.ndarray
    f_hi: np.ndarray
    best_t: np.ndarray
    best_f: np.ndarray
    top_t: np.ndarray
    top_f: np.ndarray
    evaluations: int = 0


def _checked_options(max_distance, n_targets, rtol, max_iter, chunk, sphere, max_step, latent_dim) -> tuple:
    """(max_distance, rtol, bound) after validating every numerical option.

    Raises:
        InputError: naming the first option that is out of range.
    """
    max_distance = checks.positive_float("max_distance", max_distance)
    checks.positive_int("n_targets", n_targets)
    checks.positive_int("max_iter", max_iter)
    checks.positive_int("chunk", chunk)
    rtol = checks.finite_float("rtol", rtol)
    if not 0 < rtol < 1:
        raise InputError(f"rtol must lie in (0, 1), got {rtol:g}", argument="rtol")
    return max_distance, rtol, search_bound(max_step, sphere, latent_dim)


def search_bound(max_step, sphere: bool, latent_dim: int) -> float:
    """The largest |t| a calibration (or a viewer slider) goes to: ``max_step``, by default
    2 sqrt(n) (linear) or pi (sphere).

    2 sqrt(n) is twice the typical norm of a standard normal code: a step that long leaves
    the region the generator was trained on. On the sphere, pi reaches the far side.

    Args:
        max_step: the bound asked for (finite, > 0), or None for the default.
        sphere: steps are angles on the sphere of radius |z0|.
        latent_dim: the latent size n.

    Returns:
        The bound on |t| (latent units; radians on the sphere).
    """
    default = math.pi if sphere else 2.0 * math.sqrt(latent_dim)
    if max_step is None:
        return default
    bound = checks.positive_float("max_step", max_step)
    if sphere and bound > math.pi:
        raise InputError(f"max_step must be at most pi on the sphere, got {bound:g}", argument="max_step")
    return bound


def _problems(G, z0, rows, eigvals, indices, targets, sphere: bool, bound: float) -> _Problems:
    """The flattened problems and the metric's starting steps ``sqrt(2 d / lambda)``."""
    z = _reference(G, z0)
    us = [_axis_vector(rows, i, argument="indices") for i in indices]  # validates the indices
    indices = [int(i) for i in indices]
    lam_all = np.asarray(eigvals, dtype=np.float64).reshape(-1)
    if lam_all.shape[0] <= max(indices):
        raise InputError(f"eigvals must hold one eigenvalue per axis ({max(indices) + 1} at least), "
                         f"got {lam_all.shape[0]}", argument="axes")
    A, m = len(indices), len(targets)
    axis = np.repeat(np.arange(A), 2 * m)
    side = np.tile(np.repeat([1.0, -1.0], m), A)
    want = np.tile(np.concatenate([targets, targets]), A)
    lam = lam_all[indices][axis]
    with np.errstate(divide="ignore", invalid="ignore"):
        t0 = np.sqrt(2 * want / np.where(lam > 0, lam, np.nan))
    radius = float(torch.linalg.vector_norm(z)) if sphere else 1.0
    t0 = np.where(np.isfinite(t0), t0, 1.0) / radius  # no usable eigenvalue: start at 1
    return _Problems(z, us, axis, side, want, np.minimum(t0, bound), bound, sphere)


def _evaluator(G, D, p: _Problems, chunk: int, search: _Search):
    """``f(ts, mask)``: the real distances of the masked problems at ``ts`` ((P,) or (P, K) amounts), in one
    batched pass; every value seen updates each problem's largest distance."""
    x0 = D.inputs(G, p.z[None].to(**placement(G))).detach()

    def f(ts: np.ndarray, mask: np.ndarray) -> np.ndarray:
        search.evaluations += 1
        grid = ts.reshape(len(ts), -1)
        out = np.full(grid.shape, np.nan)
        rows = np.flatnonzero(mask)
        codes = torch.cat([walk(p.z, p.us[p.axis[j]], p.side[j] * grid[j], sphere=p.sphere) for j in rows])
        out[rows] = _distances(G, D, x0, codes, chunk).numpy().reshape(len(rows), -1)
        best = np.nanargmax(np.where(np.isnan(out), -np.inf, out), axis=1)
        f_max, t_max = out[np.arange(len(out)), best], grid[np.arange(len(grid)), best]
        top = mask & (f_max > search.top_f)
        search.top_t[top], search.top_f[top] = t_max[top], f_max[top]
        return out.reshape(ts.shape)

    return f


def _start(p: _Problems, f, search: _Search, rtol: float) -> None:
    """Evaluate the predictions: a target passed (or met within tolerance) closes the bracket at once."""
    ft = f(p.t0, np.ones(p.t0.shape, dtype=bool))
    above = (ft >= p.want) | (np.abs(ft - p.want) <= rtol * p.want)
    search.hi[above], search.f_hi[above] = p.t0[above], ft[above]
    search.lo[~above], search.f_lo[~above] = p.t0[~above], ft[~above]


def _bracket(p: _Problems, f, search: _Search, max_rounds: int = 200) -> None:
    """Grow t until the distance passes the target or t reaches the bound (then the target is unreached)."""
    for _ in range(max_rounds):
        open_ = np.isnan(search.hi) & (search.lo < p.bound)
        if not open_.any():
            return
        # grow by the quadratic model's factor sqrt(want / f) (x1.1 to overshoot), at least x1.5, at most x4
        with np.errstate(divide="ignore", invalid="ignore"):
            grow = np.clip(np.nan_to_num(1.1 * np.sqrt(p.want / search.f_lo), nan=4.0, posinf=4.0), 1.5, 4.0)
        trial = np.where(open_, np.minimum(grow * np.maximum(search.lo, 1e-12), p.bound), search.lo)
        ft = f(trial, open_)
        up = open_ & (ft >= p.want)
        search.hi[up], search.f_hi[up] = trial[up], ft[up]
        stay = open_ & ~up
        search.lo[stay], search.f_lo[stay] = trial[stay], ft[stay]


def _refine(p: _Problems, f, search: _Search, *, rtol: float, max_iter: int, interpolate: bool,
            progress: bool) -> None:
    """Shrink every closed bracket on the real distance until the target is met within rtol."""
    reached = ~np.isnan(search.hi)
    search.best_t[:], search.best_f[:] = np.where(reached, search.hi, np.nan), np.where(reached, search.f_hi, np.nan)
    done = ~reached | (np.abs(search.best_f - p.want) <= rtol * p.want)
    bisect_next = np.full(p.t0.shape, not interpolate)
    for _ in progress_bar(range(max_iter), enable=progress, desc="calibrating"):
        active = ~done
        if not active.any():
            return
        lo, hi, f_lo, f_hi = search.lo, search.hi, search.f_lo, search.f_hi
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = (np.sqrt(p.want) - np.sqrt(f_lo)) / (np.sqrt(f_hi) - np.sqrt(f_lo))
        # the sqrt-interpolated try, kept inside the middle 90% of the bracket; a bisection step after a try
        # that did not halve the bracket
        frac = np.where(bisect_next, 0.5, np.clip(np.nan_to_num(frac, nan=0.5), 0.05, 0.95))
        mid = np.where(active, lo + frac * (hi - lo), search.best_t)
        width = hi - lo
        fm = f(mid, active)
        go_lo, go_hi = active & (fm >= p.want), active & (fm < p.want)
        hi[go_lo], f_hi[go_lo] = mid[go_lo], fm[go_lo]
        lo[go_hi], f_lo[go_hi] = mid[go_hi], fm[go_hi]
        better = active & (np.abs(fm - p.want) < np.abs(search.best_f - p.want))
        search.best_t[better], search.best_f[better] = mid[better], fm[better]
        done |= active & ((np.abs(fm - p.want) <= rtol * p.want) | (hi - lo <= 1e-14 * np.maximum(hi, 1e-300)))
        bisect_next = ~bisect_next & (hi - lo > 0.5 * width) if interpolate else bisect_next


def _scan_unreached(p: _Problems, f, search: _Search, points: int = 32) -> None:
    """For each (axis, side) with an unreached target, one pass over ``points`` even steps up to the bound, so
    that the largest distance reported is the curve's, not only the few steps the bracketing tried."""
    unreached = np.isnan(search.hi)
    key = p.axis * 2 + (p.side < 0)
    first = np.zeros_like(unreached)
    first[np.unique(np.where(unreached, key, -1), return_index=True)[1]] = True  # one problem per side
    mask = unreached & first
    if mask.any():
        f(np.tile(p.bound * np.arange(1, points + 1) / points, (len(p.t0), 1)), mask)


def _result(p: _Problems, search: _Search, indices, targets, distance) -> CalibratedSteps:
    """Tables (A, 2m+1); an unreached target shows the side's largest distance found and its step."""
    A, m = len(indices), len(targets)
    reached = ~np.isnan(search.hi)
    # the largest distance found on each (axis, side), over every problem on that side
    top_f = search.top_f.reshape(A, 2, m)
    pick = top_f.argmax(axis=2)
    side_top_f = np.take_along_axis(top_f, pick[..., None], axis=2)[..., 0]
    side_top_t = np.take_along_axis(search.top_t.reshape(A, 2, m), pick[..., None], axis=2)[..., 0]
    steps = np.where(reached, search.best_t, np.repeat(side_top_t.reshape(-1), m))
    dists = np.where(reached, search.best_f, np.repeat(side_top_f.reshape(-1), m))

    def table(values, centre):
        v = values.reshape(A, 2, m)
        return np.concatenate([v[:, 1, ::-1], np.full((A, 1), centre), v[:, 0]], axis=1)

    return CalibratedSteps(np.asarray(indices), targets, table(p.side * steps, 0.0), table(dists, 0.0),
                           table(p.side * p.t0, 0.0), table(reached.astype(float), 1.0).astype(bool),
                           side_top_f[:, ::-1].copy(), p.bound, p.sphere, search.evaluations, distance)


@exact_float32
def calibrate_steps(G, D, z0, axes, *, indices, max_distance: float, n_targets: int, sphere: bool = False,
                    max_step: float | None = None, rtol: float = 1e-3, max_iter: int = 60, chunk: int = 64,
                    interpolate: bool = True, progress: bool = False) -> CalibratedSteps:
    """Find, per axis and side, the steps whose real image distance equals evenly spaced targets.

    See the module docstring for the search. A target the distance does not reach within
    ``|t| <= max_step`` is flagged in ``reached`` (never faked): its step and distance are
    those of the largest distance found on that side.

    Args:
        G: the generator.
        D: the distance.
        z0: (n,) or (1, n) reference code.
        axes: an :class:`~ganmetric.axes.Axes` (or (K, n) rows together with eigenvalues
            given as ``axes=(rows, eigvals)``).
        indices: axis indices to calibrate.
        max_distance: D, the largest target.
        n_targets: m, the number of targets per side.
        sphere: steps are rotation angles (radians) on the sphere of radius |z0|.
        max_step: the search bound on |t|; default 2 sqrt(n) latent units (twice the
            typical norm of a standard normal code), or pi radians on the sphere.
        rtol: relative tolerance on the achieved distance.
        max_iter: refinement rounds at most (after bracketing).
        chunk: codes per generator pass.
        interpolate: try the sqrt-interpolated point (False: plain bisection).
        progress: show a progress bar.

    Returns:
        :class:`CalibratedSteps`.

    Raises:
        InputError: a non-positive or non-finite ``max_distance`` or ``max_step``, bad
            ``n_targets``/``rtol``/``max_iter``/``chunk``, bad indices, eigenvalues or reference, a
            distance on another device or of another dtype than G.
    """
    check_same_dtype(G, D)
    rows, eigvals = (axes if isinstance(axes, tuple) else (axes, axes.eigvals))
    max_distance, rtol, bound = _checked_options(max_distance, n_targets, rtol, max_iter, chunk, sphere, max_step,
                                                 G.latent_dim)
    indices = list(indices)
    if not indices:
        raise InputError("indices must name at least one axis", argument="indices")
    targets = max_distance * np.arange(1, n_targets + 1) / n_targets
    p = _problems(G, z0, rows, eigvals, indices, targets, sphere, bound)
    nan = np.full(p.t0.shape, np.nan)
    search = _Search(np.zeros_like(p.t0), np.zeros_like(p.t0), nan.copy(), nan.copy(), nan.copy(), nan.copy(),
                     np.zeros_like(p.t0), np.full(p.t0.shape, -np.inf))
    f = _evaluator(G, D, p, chunk, search)
    _start(p, f, search, rtol)
    _bracket(p, f, search)
    _scan_unreached(p, f, search)
    _refine(p, f, search, rtol=rtol, max_iter=max_iter, interpolate=interpolate, progress=progress)
    return _result(p, search, [int(i) for i in indices], targets, getattr(D, "name", None))
