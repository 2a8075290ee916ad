"""One exploration of metric axes: the montage, calibrated steps, distance curves and the action montage.

:func:`explore` validates every option before the first generator pass, then runs the
parts that were asked for, in the order calibration (the other parts use its steps),
explore montage, curves, action montage. Writing files is the caller's job.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import checks
from ..errors import InputError
from ..precision import exact_float32
from .apply import _axis_vector, _reference
from .calibrate import CalibratedSteps, calibrate_steps
from .curves import _curve_amounts, distance_curves
from .montage import Montage, _check_scale, _steps_grid, action_montage, explore_montage


@dataclass(frozen=True)
class Exploration:
    """What :func:`explore` made.

    Attributes:
        montage: the explore montage (one row per axis).
        calibrated: the calibrated steps, or None.
        curve_ts: (T,) the amounts of the distance curves, or None.
        curves: (A, T) the real distances along each axis, or None.
        action: the action montage (one row per action code), or None.
        action_axis: the axis of the action montage, or None.
    """

    montage: Montage
    calibrated: CalibratedSteps | None
    curve_ts: np.ndarray | None
    curves: np.ndarray | None
    action: Montage | None
    action_axis: int | None


def _check_request(G, z0, axes, D, indices, steps, amount_range, calibrate, curves, curves_range, curve_points,
                   action_codes, action_axis, scale):
    """Everything that can be checked before the first generator pass; returns (indices, curve amounts,
    action axis).

    Raises:
        InputError: naming the first bad argument.
    """
    indices = list(indices)
    if not indices:
        raise InputError("indices must name at least one axis", argument="indices")
    for i in indices:
        _axis_vector(axes, i, argument="indices")
    _reference(G, z0)
    _steps_grid(steps, amount_range)
    _check_scale(scale)
    if calibrate is not None:
        checks.positive_float("calibrate", calibrate)
    if (calibrate is not None or curves) and D is None:
        raise InputError("D, a distance, is needed to calibrate steps or to draw distance curves", argument="D")
    ts = _curve_amounts(amount_range if curves_range is None else curves_range, curve_points) if curves else None
    axis = None
    if action_codes is not None:
        checks.latent_codes("action_codes", action_codes, G.latent_dim)
        axis = indices[0] if action_axis is None else action_axis
        _axis_vector(axes, axis, argument="action_axis")
    elif action_axis is not None:
        raise InputError("action_axis needs action_codes (the codes the axis is applied to)", argument="action_axis")
    return [int(i) for i in indices], ts, None if axis is None else int(axis)


@exact_float32
def explore(G, z0, axes, *, indices, D=None, steps: int = 7, amount_range: float = 3.0, sphere: bool = False,
            calibrate: float | None = None, curves: bool = False, curves_range: float | None = None,
            curve_points: int = 41, action_codes=None, action_axis: int | None = None, action_labels=None,
            reference_label: str = "the reference code", scale: int = 1, progress: bool = False) -> Exploration:
    """Montage along metric axes, with optional calibrated steps, distance curves and an action montage.

    Args:
        G: generator.
        z0: (n,) or (1, n) reference code.
        axes: :class:`~ganmetric.axes.Axes`.
        indices: axis indices, one montage row each.
        D: the distance (needed for ``calibrate`` and ``curves``; with it the action montage
            captions each cell with its real distance).
        steps: odd number of columns (with ``calibrate``: (steps - 1) / 2 targets per side).
        amount_range: largest |t| of the even grid (latent units; radians on the sphere).
        sphere: move on the sphere of radius |z0|.
        calibrate: the largest target distance: steps per axis so that the real distance is
            evenly spaced up to it (see :func:`~ganmetric.axes.calibrate_steps`), or None.
        curves: also compute the real distance along each axis.
        curves_range: the curves' largest |t| (default ``amount_range``).
        curve_points: amounts per curve (>= 2).
        action_codes: (R, n) codes for the action montage (one row each), or None.
        action_axis: its axis (default the first of ``indices``); it uses the calibrated
            steps of that axis when there are some, else the even grid.
        action_labels: R row labels for the action montage.
        reference_label: how to name ``z0`` in titles (e.g. "seed 0").
        scale: integer upscaling of each image.
        progress: show a progress bar while calibrating.

    Returns:
        :class:`Exploration`.

    Raises:
        InputError: any bad option (checked before the first generator pass).
    """
    indices, ts, act_axis = _check_request(G, z0, axes, D, indices, steps, amount_range, calibrate, curves,
                                           curves_range, curve_points, action_codes, action_axis, scale)
    cal = None
    if calibrate is not None:
        cal = calibrate_steps(G, D, z0, axes, indices=indices, max_distance=calibrate, n_targets=(steps - 1) // 2,
                              sphere=sphere, progress=progress)
    mont = explore_montage(G, z0, axes, indices=indices, steps=steps, amount_range=amount_range, sphere=sphere,
                           calibrated=cal, scale=scale)
    dist = distance_curves(G, D, z0, axes, indices, ts, sphere=sphere) if curves else None
    action = None
    if act_axis is not None:
        row_ts, note = None, f"t in [-{amount_range:g}, {amount_range:g}]"
        if cal is not None and act_axis in indices:
            row_ts = cal.steps[indices.index(act_axis)]
            note = (f"t calibrated to {cal.distance or 'distance'} d<={cal.targets[-1]:.3g} at {reference_label} "
                    f"(the explore montage's reference), not per row")
        action = action_montage(G, action_codes, axes, act_axis, steps=steps, amount_range=amount_range,
                                sphere=sphere, ts=row_ts, D=D, row_labels=action_labels, scale=scale, steps_note=note)
    return Exploration(mont, cal, ts, dist, action, act_axis)
