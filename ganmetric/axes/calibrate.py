"""Real distances along axes, and calibrated steps: equal image change on every axis.

The metric predicts, for a unit axis u with eigenvalue lambda and a small linear step t,

    d(G(z0), G(z0 + t u)) = lambda t^2 / 2 + O(t^3)

(H is the Hessian of d, so the quadratic term carries the Taylor 1/2). On the sphere of
radius r = |z0| an angle t moves the code by about r t, so the prediction is
``lambda (r t)^2 / 2`` (exact to second order only when u is orthogonal to z0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import checks
from .._progress import progress_bar
from ..errors import InputError
from .apply import axis_vector, placement, walk


def _reference(G, z0) -> torch.Tensor:
    z0 = checks.latent_codes(z0, G.latent_dim, name="reference z")
    if z0.shape[0] != 1:
        raise InputError(f"expected one reference code of size {G.latent_dim}, got {z0.shape[0]}")
    return z0[0].detach().to(device="cpu", dtype=torch.float64)


@torch.no_grad()
def _distances(G, D, x0: torch.Tensor, codes: torch.Tensor, chunk: int) -> torch.Tensor:
    """d(x0, G(code)) for each row of codes (float64 on the CPU)."""
    out = []
    for start in range(0, codes.shape[0], chunk):
        batch = codes[start:start + chunk].to(**placement(G))
        out.append(D(x0, G(batch)).detach().to(device="cpu", dtype=torch.float64).reshape(-1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def predicted_distance(eigval: float, ts, *, sphere: bool = False, radius: float = 1.0) -> np.ndarray:
    """The metric's quadratic prediction ``lambda s^2 / 2`` with s = t (linear) or radius * t (sphere)."""
    s = np.asarray(ts, dtype=np.float64) * (radius if sphere else 1.0)
    return 0.5 * float(eigval) * s ** 2


def distance_curves(G, D, z0, axes, indices, ts, *, sphere: bool = False, chunk: int = 64) -> np.ndarray:
    """Real distances ``d(G(z0), G(walk(z0, u_i, t)))`` for each axis i and amount t.

    Args:
        G: generator; D: distance.
        z0: (n,) or (1, n) reference code.
        axes: :class:`~ganmetric.axes.Axes` or (K, n) rows.
        indices: axis indices.
        ts: (T,) amounts (latent units; radians on the sphere).
        sphere: walk on the sphere of radius |z0|.
        chunk: codes per generator pass.

    Returns:
        (len(indices), T) float64 distances.

    Raises:
        InputError: bad reference code, index out of range, non-finite amounts.
    """
    z = _reference(G, z0)
    ts = np.asarray(ts, dtype=np.float64).reshape(-1)
    if not np.isfinite(ts).all():
        raise InputError("amounts must be finite numbers")
    x0 = G(z[None].to(**placement(G))).detach()
    codes = torch.cat([walk(z, axis_vector(axes, i), ts, sphere=sphere) for i in indices])
    return _distances(G, D, x0, codes, chunk).reshape(len(indices), len(ts)).numpy()


@dataclass(frozen=True)
class CalibratedSteps:
    """Steps along each axis at which the image has moved by evenly spaced distances.

    Columns run from the most negative step to the most positive, the reference (t = 0)
    in the middle: column ``m + j`` (j = 1..m) targets ``targets[j-1]`` on the positive
    side, column ``m - j`` the same target on the negative side.

    Attributes:
        indices: (A,) axis indices.
        targets: (m,) target distances ``D/m, 2D/m, ..., D``.
        steps: (A, 2m+1) signed amounts found (latent units; radians on the sphere).
        distances: (A, 2m+1) real distances achieved at those steps.
        predicted_steps: (A, 2m+1) the metric's starting guesses ``sqrt(2 d / lambda)``.
        reached: (A, 2m+1) False where the distance never reached the target (e.g. it
            saturates below it, or the sphere was rotated by pi); the step is then the
            largest one tried.
        sphere: spherical steps.
        evaluations: generator passes (batches) used.
    """

    indices: np.ndarray
    targets: np.ndarray
    steps: np.ndarray
    distances: np.ndarray
    predicted_steps: np.ndarray
    reached: np.ndarray
    sphere: bool
    evaluations: int

    def target_table(self) -> np.ndarray:
        """(2m+1,) the target of each column: ``D, ..., D/m, 0, D/m, ..., D``."""
        return np.concatenate([self.targets[::-1], [0.0], self.targets])

    def to_csv(self, path, *, eigvals=None) -> None:
        """Write one row per (axis, column): axis, eigval, column, step, distance, target, reached,
        predicted_step; atomically.

        Args:
            path: CSV file to write.
            eigvals: the eigenvalue of each axis index (e.g. ``axes.eigvals``), or None.
        """
        from ..io import atomic_write_bytes
        want = self.target_table()
        lines = ["axis,eigval,column,step,distance,target,reached,predicted_step"]
        for r, i in enumerate(self.indices):
            lam = "" if eigvals is None else f"{float(eigvals[int(i)]):.6g}"
            for c in range(len(want)):
                lines.append(f"{int(i)},{lam},{c},{self.steps[r, c]:.6g},{self.distances[r, c]:.6g},{want[c]:.6g},"
                             f"{int(self.reached[r, c])},{self.predicted_steps[r, c]:.6g}")
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())

    def max_relative_error(self) -> float:
        """Largest ``|achieved - target| / target`` over the reached steps."""
        m = len(self.targets)
        want = self.target_table()
        err = np.abs(self.distances - want[None]) / np.where(want > 0, want, 1.0)[None]
        err[:, m] = 0.0
        return float(err[self.reached].max()) if self.reached.any() else float("nan")


def calibrate_steps(G, D, z0, axes, *, indices, max_distance: float, n_targets: int, sphere: bool = False,
                    rtol: float = 1e-3, max_iter: int = 60, chunk: int = 64, interpolate: bool = True,
                    progress: bool = False) -> CalibratedSteps:
    """Find, per axis and side, the steps whose real image distance equals evenly spaced targets.

    For each axis u (eigenvalue lambda), side s = +-1 and target d, it solves
    ``d(G(z0), G(walk(z0, s u, t))) = d`` for t > 0: starting from the metric's prediction
    ``t = sqrt(2 d / lambda)`` (divided by |z0| on the sphere), it doubles t until the
    target is bracketed, then bisects on the real distance until ``|f - d| <= rtol d``
    (each round tries the point where sqrt(distance), nearly linear in t, would hit the
    target, inside the bracket; a try that does not halve the bracket is followed by a plain
    bisection step, so the bracket still at least halves every two rounds).
    All axes, sides and targets advance together, one batched generator pass per round.

    Args:
        G: generator; D: distance.
        z0: (n,) or (1, n) reference code.
        axes: an :class:`~ganmetric.axes.Axes` (or (K, n) rows together with eigenvalues
            given as ``axes=(rows, eigvals)``).
        indices: axis indices to calibrate.
        max_distance: D, the largest target.
        n_targets: m, the number of targets per side.
        sphere: steps are rotation angles (radians) on the sphere of radius |z0|.
        rtol: relative tolerance on the achieved distance.
        max_iter: bisection rounds at most (after bracketing).
        chunk: codes per generator pass.
        interpolate: try the sqrt-interpolated point (False: plain bisection).
        progress: show a progress bar.

    Returns:
        :class:`CalibratedSteps`.

    Raises:
        InputError: non-positive or non-finite ``max_distance``, bad indices or reference.
    """
    rows, eigvals = (axes if isinstance(axes, tuple) else (axes, axes.eigvals))
    max_distance = float(max_distance)
    if not (math.isfinite(max_distance) and max_distance > 0):
        raise InputError(f"the calibration distance must be a positive finite number, got {max_distance}")
    checks.positive_int("number of targets", n_targets)
    z = _reference(G, z0)
    radius = float(torch.linalg.vector_norm(z))
    x0 = G(z[None].to(**placement(G))).detach()
    indices = [int(i) for i in indices]
    us = [axis_vector(rows, i) for i in indices]
    targets = max_distance * np.arange(1, n_targets + 1) / n_targets
    # one problem per (axis, side, target)
    A, m = len(indices), n_targets
    ax = np.repeat(np.arange(A), 2 * m)
    side = np.tile(np.repeat([1.0, -1.0], m), A)
    want = np.tile(np.concatenate([targets, targets]), A)
    lam = np.asarray(eigvals, dtype=np.float64)[indices][ax]
    t0 = np.sqrt(2 * want / np.where(lam > 0, lam, np.nan))
    t0 = np.where(np.isfinite(t0), t0, 1.0) / (radius if sphere else 1.0)
    t_cap = math.pi if sphere else np.inf
    t0 = np.minimum(t0, t_cap)
    evaluations = 0

    def f(ts):
        nonlocal evaluations
        evaluations += 1
        codes = torch.stack([walk(z, us[a], [s * t], sphere=sphere)[0] for a, s, t in zip(ax, side, ts)])
        return _distances(G, D, x0, codes, chunk).numpy()

    lo, f_lo = np.zeros_like(t0), np.zeros_like(t0)
    hi, f_hi = np.full_like(t0, np.nan), np.full_like(t0, np.nan)
    ft = f(t0)
    above = (ft >= want) | (np.abs(ft - want) <= rtol * want)  # a prediction within tolerance is kept
    hi[above], f_hi[above] = t0[above], ft[above]
    lo[~above], f_lo[~above] = t0[~above], ft[~above]
    for _ in range(30):  # bracket: grow t until the distance passes the target
        open_ = np.isnan(hi) & (lo < t_cap)
        if not open_.any():
            break
        # grow by the quadratic model's factor sqrt(want / f) (x1.1 to overshoot), at least x1.5, at most x4
        with np.errstate(divide="ignore", invalid="ignore"):
            grow = np.clip(np.nan_to_num(1.1 * np.sqrt(want / f_lo), nan=4.0, posinf=4.0), 1.5, 4.0)
        trial = np.where(open_, np.minimum(grow * np.maximum(lo, 1e-12), t_cap), lo)
        ft = f(trial)
        up = open_ & (ft >= want)
        hi[up], f_hi[up] = trial[up], ft[up]
        stay = open_ & ~up
        lo[stay], f_lo[stay] = trial[stay], ft[stay]
    reached = ~np.isnan(hi)
    best_t = np.where(reached, hi, lo)
    best_f = np.where(reached, f_hi, f_lo)
    done = ~reached | (np.abs(best_f - want) <= rtol * want)
    bisect_next = np.full(t0.shape, not interpolate)
    for _ in progress_bar(range(max_iter), enable=progress, desc="calibrating"):
        active = ~done
        if not active.any():
            break
        # try where sqrt(f), about linear in t, meets the target (kept inside the middle 90% of
        # the bracket); after a try that did not halve the bracket, a plain bisection step, so the
        # bracket at least halves every two rounds whatever the curve does
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = (np.sqrt(want) - np.sqrt(f_lo)) / (np.sqrt(f_hi) - np.sqrt(f_lo))
        frac = np.where(bisect_next, 0.5, np.clip(np.nan_to_num(frac, nan=0.5), 0.05, 0.95))
        mid = np.where(active, lo + frac * (hi - lo), best_t)
        width = hi - lo
        fm = f(mid)
        go_lo = active & (fm >= want)
        hi[go_lo], f_hi[go_lo] = mid[go_lo], fm[go_lo]
        go_hi = active & (fm < want)
        lo[go_hi], f_lo[go_hi] = mid[go_hi], fm[go_hi]
        better = active & (np.abs(fm - want) < np.abs(best_f - want))
        best_t[better], best_f[better] = mid[better], fm[better]
        done |= active & ((np.abs(fm - want) <= rtol * want) | (hi - lo <= 1e-14 * np.maximum(hi, 1e-300)))
        bisect_next = ~bisect_next & (hi - lo > 0.5 * width) if interpolate else bisect_next

    def table(values, centre):
        v = values.reshape(A, 2, m)
        return np.concatenate([v[:, 1, ::-1], np.full((A, 1), centre), v[:, 0]], axis=1)

    return CalibratedSteps(np.asarray(indices), targets, table(side * best_t, 0.0), table(best_f, 0.0),
                           table(side * t0, 0.0), table(reached.astype(float), 1.0).astype(bool), bool(sphere),
                           evaluations)
