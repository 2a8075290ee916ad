"""Input validation shared by the API and the CLI: one place, one wording.

Every check takes the argument's name first, then its value (``positive_int("k", k)``), and
raises an :class:`~ganmetric.errors.InputError` whose ``argument`` is that name and whose
message starts with it ("k must be at least 1, got 0"), so that a front end can put its own
name for the argument (a flag) in that place.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable

import numpy as np
import torch

from .errors import InputError


def one_of(name: str, value: str, valid: Iterable[str], *, what: str | None = None) -> str:
    """Return ``value`` if it is in ``valid``.

    Args:
        name: the argument's name (``"method"``).
        value: what was given.
        valid: the allowed values.
        what: how to call the value in the message when the argument's name alone does not say
            enough (``"latent space of stylegan2-demo"``); the message then starts with it.

    Raises:
        InputError: naming the argument (or ``what``), the value and every valid choice.
    """
    valid = sorted(valid)
    if value not in valid:
        # quoted by hand: a repr would show numpy's np.str_('x') for a numpy string
        raise InputError(f"{what or name} '{value}' is not one of {{{', '.join(valid)}}}", argument=name)
    return value


#: the largest code value accepted (float32's largest finite number)
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def latent_codes(name: str, z, latent_dim: int, *, shown: str | None = None) -> torch.Tensor:
    """Validate latent codes and return them as a (B, latent_dim) tensor.

    Args:
        name: the argument that gave the codes (``"z"``, ``"z_init"``).
        z: array-like of shape (latent_dim,) or (B, latent_dim).
        latent_dim: expected size of one code.
        shown: what to call the codes in messages when not by the argument's name (a file
            name, "the codes moved by amount 2").

    Codes must be float32, float64 or integers (float16 and bfloat16 codes are refused, not
    cast: say ``z.float()`` yourself), finite, and within float32's range (about 3.4e38): a
    larger code overflows to inf in a float32 generator, and no generator's prior reaches it.

    Raises:
        InputError: wrong shape, empty, a half-precision dtype, non-finite values, or values
            beyond float32's range.
    """
    label = shown or name
    if not isinstance(z, torch.Tensor):
        try:
            z = torch.as_tensor(z, device="cpu")  # never the default device: the caller places codes
        except Exception as exc:  # numpy object arrays, strings, ...
            raise InputError(f"{label} must be a numeric array, got {type(z).__name__}", argument=name) from exc
    if not (z.dtype.is_floating_point or z.dtype in (torch.int32, torch.int64)):
        raise InputError(f"{label} must hold real numbers, got dtype {z.dtype}", argument=name)
    if z.dtype in (torch.float16, torch.bfloat16):
        short = str(z.dtype).replace("torch.", "")
        raise InputError(f"{label} has dtype {short}: codes must be float32 or float64 (or integers), never cast "
                         f"silently; convert them first, e.g. z.float()", argument=name)
    given = tuple(z.shape)  # reported as given, before a single code becomes a batch of one
    if z.dim() == 1:
        z = z[None]
    if z.dim() != 2 or z.shape[1] != latent_dim or z.shape[0] == 0:
        raise InputError(f"{label} must have shape ({latent_dim},) or (N, {latent_dim}) for this latent space, "
                         f"got {given}", argument=name)
    if not torch.isfinite(z).all():
        raise InputError(f"{label} contains NaN or inf values", argument=name)
    largest = float(z.abs().max())
    if largest > FLOAT32_MAX:
        raise InputError(f"{label}: values beyond float32's range (up to {largest:.3g} in size), which no "
                         f"generator can use", argument=name)
    return z


def finite_float(name: str, value) -> float:
    """Return ``value`` as a finite float.

    Raises:
        InputError: not a real number, or NaN/inf.
    """
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        shown = value if isinstance(value, str) else type(value).__name__
        raise InputError(f"{name} must be a real number, got {shown}", argument=name) from exc
    if not math.isfinite(out):
        raise InputError(f"{name} must be a finite number, got {out}", argument=name)
    return out


def positive_float(name: str, value) -> float:
    """Return ``value`` as a finite float > 0 (a step, a tolerance, a scale).

    Raises:
        InputError: not a real number, NaN/inf, or <= 0.
    """
    out = finite_float(name, value)
    if out <= 0:
        raise InputError(f"{name} must be a finite number > 0, got {out:g}", argument=name)
    return out


def non_negative_float(name: str, value) -> float:
    """Return ``value`` as a finite float >= 0 (a weight, a penalty).

    Raises:
        InputError: not a real number, NaN/inf, or < 0.
    """
    out = finite_float(name, value)
    if out < 0:
        raise InputError(f"{name} must be a finite number >= 0, got {out:g}", argument=name)
    return out


def integer(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Validate an integer (a Python or numpy int, not a bool or a float), optionally within bounds.

    Raises:
        InputError: not an integer, or outside [minimum, maximum].
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        shown = value if isinstance(value, (int, float, str)) else type(value).__name__
        raise InputError(f"{name} must be an integer, got {shown}", argument=name)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = [f"at least {minimum}"] * (minimum is not None) + [f"at most {maximum}"] * (maximum is not None)
        raise InputError(f"{name} must be {' and '.join(bounds)}, got {value}", argument=name)
    return value


#: seeds are integers in [0, SEED_LIMIT): torch.Generator.manual_seed silently wraps a negative seed
#: to 2**64 + seed and refuses 2**64 and above with its own error
SEED_LIMIT = 2 ** 63


def seed(name: str, value) -> int:
    """Validate a seed: an integer in [0, 2**63) (a Python or numpy int, not a bool or a float).

    The one check of every seed the API and the CLI take (``--seed -1`` would otherwise equal
    ``2**64 - 1`` and ``99999999999999999999`` end in torch's traceback).

    Raises:
        InputError: naming ``name``, the range and the value.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) < SEED_LIMIT:
        shown = value if isinstance(value, (int, float, str)) else type(value).__name__
        raise InputError(f"{name} must be an integer in [0, 2**63), got {shown}", argument=name)
    return int(value)


def flag(name: str, value) -> bool:
    """Validate an on/off option: a bool (numpy's too), not a number or a string.

    Raises:
        InputError: anything else.
    """
    if not isinstance(value, (bool, np.bool_)):
        shown = value if isinstance(value, (int, float, str)) else type(value).__name__
        raise InputError(f"{name} must be True or False, got {shown}", argument=name)
    return bool(value)


def positive_int(name: str, value, *, maximum: int | None = None) -> int:
    """Validate a positive integer (optionally at most ``maximum``).

    Raises:
        InputError: not an integer, below 1, or above ``maximum``.
    """
    return integer(name, value, minimum=1, maximum=maximum)


def device(spec) -> torch.device:
    """Parse a device spec and check that it exists here.

    Raises:
        InputError: unknown device string, or CUDA/MPS requested but not available.
    """
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"Invalid device {spec}; expected e.g. cpu, cuda, cuda:1", argument="device") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {spec} requested but CUDA is not available on this machine (cpu is)",
                             argument="device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"device {spec} requested but only {torch.cuda.device_count()} CUDA device(s) exist",
                             argument="device")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {spec} requested but MPS is not available on this machine", argument="device")
    return dev


DTYPES = {"float32": torch.float32, "float64": torch.float64}


def dtype(spec) -> torch.dtype:
    """Parse 'float32'/'float64' (or a torch dtype).

    Raises:
        InputError: any other dtype.
    """
    if isinstance(spec, torch.dtype):
        if spec in DTYPES.values():
            return spec
        spec = str(spec).replace("torch.", "")
    return DTYPES[one_of("dtype", str(spec), DTYPES)]
