"""Straight-line and spherical interpolation between two latent codes, and halving a path's steps.

These paths need no generator: they are the baselines a geodesic is compared with and the
paths it starts from.
"""
from __future__ import annotations

import math

import torch

from .. import checks
from ..errors import InputError

#: below this angle (radians) between the codes, slerp is the straight line (its limit)
_PARALLEL = 1e-7


def endpoint(z, name: str, latent_dim: int | None = None) -> torch.Tensor:
    """One latent code as an (n,) tensor.

    Args:
        z: array-like of shape (n,) or (1, n).
        name: the argument's name, for messages (``z_a``, ``z_b``).
        latent_dim: the size the model needs, or None to accept any size.

    Raises:
        InputError: not one finite code (of size ``latent_dim``).
    """
    size = latent_dim if latent_dim is not None else _size(z, name)
    codes = checks.latent_codes(name, z, size)
    if codes.shape[0] != 1:
        raise InputError(f"{name} must be one code of size {size}, got {codes.shape[0]} codes", argument=name)
    return codes[0]


def _size(z, name: str) -> int:
    """The size of the last axis of an array-like (the caller's check then names what is wrong)."""
    try:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else tuple(torch.as_tensor(z, device="cpu").shape)
    except Exception as exc:  # strings, object arrays, ragged lists
        raise InputError(f"{name} must be a numeric array, got {type(z).__name__}", argument=name) from exc
    return int(shape[-1]) if shape else 0


def endpoints(z_a, z_b, latent_dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two distinct codes of the same size, as (n,) tensors of one dtype.

    Raises:
        InputError: either is not one finite code of the right size, or they are the same code.
    """
    a = endpoint(z_a, "z_a", latent_dim)
    b = endpoint(z_b, "z_b", latent_dim if latent_dim is not None else a.numel())
    dtype = torch.promote_types(a.dtype, b.dtype) if a.is_floating_point() or b.is_floating_point() \
        else torch.get_default_dtype()
    a, b = a.to(dtype), b.to(device=a.device, dtype=dtype)
    if torch.equal(a, b):
        raise InputError("z_b is the same code as {z_a}: a path needs two different endpoints", argument="z_b",
                         mentions=("z_a",))
    return a, b


def check_points(points) -> int:
    """The number of codes of a path, both ends included: an integer >= 3.

    Raises:
        InputError: anything else.
    """
    return checks.integer("points", points, minimum=3)


def linear_path(z_a, z_b, points: int = 16) -> torch.Tensor:
    """Codes evenly spaced on the straight line from z_a to z_b, both ends included.

    Args:
        z_a, z_b: the endpoints, shape (n,) or (1, n).
        points: number of codes, >= 3.

    Returns:
        (points, n) tensor, row i = (1 - t_i) z_a + t_i z_b with t_i = i / (points - 1).

    Raises:
        InputError: bad or identical endpoints, or points < 3.
    """
    a, b = endpoints(z_a, z_b)
    t = _fractions(check_points(points), a)
    return (1 - t) * a + t * b


def slerp_path(z_a, z_b, points: int = 16) -> torch.Tensor:
    """Spherical linear interpolation (SLERP) from z_a to z_b, both ends included.

    Row i is ``sin((1 - t) w) / sin(w) z_a + sin(t w) / sin(w) z_b`` with ``t = i / (points - 1)``
    and ``w`` the angle between the codes (as in White, *Sampling generative networks*,
    2016): the direction moves along the great circle at constant angular speed, and
    the norm stays near the endpoints' instead of dipping as the straight line's does
    (for two codes of equal norm r it stays exactly r). Codes at an angle below 1e-7 rad
    give the straight line (slerp's limit).

    Args:
        z_a, z_b: the endpoints, shape (n,) or (1, n).
        points: number of codes, >= 3.

    Returns:
        (points, n) tensor.

    Raises:
        InputError: bad or identical endpoints, points < 3, a zero endpoint (no direction),
            or opposite endpoints (angle pi: no unique great circle).
    """
    a, b = endpoints(z_a, z_b)
    t = _fractions(check_points(points), a)
    na, nb = float(a.double().norm()), float(b.double().norm())
    if na == 0 or nb == 0:
        raise InputError("slerp needs two non-zero codes (a zero code has no direction); use linear", argument="z_a")
    cos = float((a.double() @ b.double()) / (na * nb))
    omega = math.acos(max(-1.0, min(1.0, cos)))
    if omega < _PARALLEL:
        return (1 - t) * a + t * b
    if math.pi - omega < 1e-6:
        raise InputError("slerp is undefined for opposite codes (angle pi: every great circle joins them); "
                         "use linear", argument="z_b")
    so = math.sin(omega)
    return torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b


def _fractions(points: int, like: torch.Tensor) -> torch.Tensor:
    """(points, 1) fractions i / (points - 1) in the dtype and device of ``like``."""
    return torch.linspace(0, 1, points, dtype=like.dtype, device=like.device)[:, None]


def halve_steps(codes: torch.Tensor) -> torch.Tensor:
    """A path with a midpoint inserted between consecutive codes: (T + 1, n) -> (2T + 1, n).

    The midpoints are straight-line midpoints in z; the old codes keep their places (the
    even rows).
    """
    mids = (codes[:-1] + codes[1:]) / 2
    out = torch.empty(2 * codes.shape[0] - 1, codes.shape[1], dtype=codes.dtype, device=codes.device)
    out[0::2], out[1::2] = codes, mids
    return out


INTERPOLATIONS = {"linear": linear_path, "slerp": slerp_path}
"""The baseline paths, name -> ``fn(z_a, z_b, points) -> (points, n) codes``."""
