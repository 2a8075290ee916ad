"""Moving latent codes along an axis: linearly, or on the sphere of radius |z|."""
from __future__ import annotations

import numpy as np
import torch

from .. import checks
from ..errors import InputError
from ..placement import as_numpy, cpu_float64
from .files import Axes, _check_index


def _axis_vector(axes, i, *, argument: str = "i") -> torch.Tensor:
    """Axis ``i`` of ``axes`` (an :class:`Axes` or a (K, n) array of rows) as a float64 unit vector
    (``argument``: the argument that gave the index).

    Raises:
        InputError: index out of range, or the row is zero / not finite.
    """
    rows = axes.axes if isinstance(axes, Axes) else as_numpy(axes, dtype=np.float64)
    if rows.ndim == 1:
        rows = rows[None]
    if rows.ndim != 2:
        raise InputError(f"axes must be an Axes object or a (K, n) array, got shape {rows.shape}",
                         argument="axes")
    u = cpu_float64(rows[_check_index(i, rows.shape[0], argument=argument)])
    norm = torch.linalg.vector_norm(u)
    if not torch.isfinite(norm) or norm == 0:
        raise InputError(f"axis {i} is zero or not finite", argument=argument)
    return u / norm


def _reference(G, z0, *, argument: str = "z0") -> torch.Tensor:
    """One reference code (n,) float64 on the CPU from (n,) or (1, n) (``argument``: the argument that gave it).

    Raises:
        InputError: not one finite code of G's latent size.
    """
    z0 = checks.latent_codes(argument, z0, G.latent_dim, shown="the reference code")
    if z0.shape[0] != 1:
        raise InputError(f"expected one reference code of size {G.latent_dim}, got {z0.shape[0]}", argument=argument)
    return z0[0].detach().to(device="cpu", dtype=torch.float64)


def _rotate(z: torch.Tensor, u: torch.Tensor, angles: torch.Tensor, *, argument: str = "z") -> torch.Tensor:
    """Rotate each row of z (B, n) toward u by angles (B,) radians in the plane of z and u (``argument``: the
    argument that gave z)."""
    r = torch.linalg.vector_norm(z, dim=1, keepdim=True)
    if (r == 0).any():
        raise InputError("cannot move on the sphere of radius |z|: z is the zero vector", argument=argument)
    zhat = z / r
    w = u[None] - (zhat @ u)[:, None] * zhat  # the part of u orthogonal to z: the rotation direction
    wn = torch.linalg.vector_norm(w, dim=1, keepdim=True)
    if (wn < 1e-12).any():
        raise InputError("cannot rotate toward the axis: it is parallel to z (the rotation plane is undefined)",
                         argument=argument)
    out = r * (torch.cos(angles)[:, None] * zhat + torch.sin(angles)[:, None] * (w / wn))
    # cos/sin give |out| = r up to rounding; rescale so the norm is r to the last bit we can.
    return out * (r / torch.linalg.vector_norm(out, dim=1, keepdim=True))


def walk(z0, u, ts, *, sphere: bool = False) -> torch.Tensor:
    """Codes along one axis from one point.

    Args:
        z0: (n,) the reference code.
        u: (n,) unit axis.
        ts: (T,) amounts: latent distance for the linear walk ``z0 + t u``; angle in
            radians for the spherical walk (rotate z0 toward u in their plane, radius |z0|).
        sphere: walk on the sphere.

    Returns:
        (T, n) float64 codes.

    Raises:
        InputError: the codes leave float32's range (a huge amount).
    """
    z0, u, ts = (cpu_float64(x).reshape(-1) for x in (z0, u, ts))
    if sphere:
        return _rotate(z0.expand(len(ts), -1), u, ts, argument="z0")
    out = z0[None] + ts[:, None] * u[None]
    if len(ts) == 0:
        return out
    return checks.latent_codes("ts", out, out.shape[1], shown=f"the codes moved by up to {float(ts.abs().max()):g}")


def apply_axis(z, axes, i: int, t: float, *, sphere: bool = False):
    """Move codes along axis ``i`` by amount ``t``.

    Linear: ``z + t u``. Spherical (``sphere=True``): rotate z toward u by the angle ``t``
    in **radians**, in the plane spanned by z and u, on the sphere of radius |z|:
    ``z' = |z| (cos t * z/|z| + sin t * w/|w|)`` with ``w`` the part of u orthogonal to z.
    ``|z'| = |z|`` (rescaled to hold to rounding); for small t the step is about
    ``|z| t`` along ``w/|w|``; t = pi/2 makes z' orthogonal to z.

    Args:
        z: (n,) or (B, n) codes (torch tensor or numpy array); never modified.
        axes: an :class:`Axes` or a (K, n) array of axis rows.
        i: axis index in [0, K).
        t: amount (latent units for the linear move, radians on the sphere).
        sphere: move on the sphere.

    Returns:
        Codes of the same shape and kind as ``z`` (tensor: same dtype and device; numpy: float64).

    Raises:
        InputError: bad codes (shape, NaN), index out of range, non-finite ``t``, edited codes
            beyond float32's range (a huge ``t``), zero z on the sphere, or an axis parallel
            to z on the sphere.
    """
    u = _axis_vector(axes, i)
    t = checks.finite_float("t", t)
    is_tensor = isinstance(z, torch.Tensor)
    codes = checks.latent_codes("z", z, u.numel())
    single = (z.dim() if is_tensor else np.ndim(z)) == 1
    z64 = codes.detach().to(device="cpu", dtype=torch.float64)
    if sphere:
        out = _rotate(z64, u, torch.full((z64.shape[0],), t, dtype=torch.float64, device="cpu"))
    else:
        out = checks.latent_codes("t", z64 + t * u[None], u.numel(), shown=f"the codes moved by amount {t:g}")
    if single:
        out = out[0]
    if is_tensor:
        dtype = z.dtype if z.dtype.is_floating_point else torch.float64
        return out.to(device=z.device, dtype=dtype)
    return out.numpy()
