"""The viewer's requests: strict JSON bodies and query strings, validated into plain values.

Every check raises :class:`~ganmetric.errors.InputError` naming the request field
(``coefficients``, ``seed``, ...), so the web layer answers 400 with that one line; a body
over :data:`MAX_BODY` bytes raises :class:`RequestTooLarge` (413). Nothing here imports a
web framework: the same functions serve the HTTP app and tests.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from .. import checks
from ..errors import InputError

#: the largest request body accepted, in bytes (a w+ code of StyleGAN2-1024 is about 200 kB of JSON)
MAX_BODY = 1 << 20
#: seeds are drawn from [0, MAX_SEED] (the page's "random sample" draws from the same range)
MAX_SEED = 2**32 - 1
#: the largest |value| accepted in a reference code (a standard normal code stays within about 6)
MAX_CODE_VALUE = 1e4
#: a strip's number of images, and the largest integer upscaling of its cells
STRIP_STEPS = (3, 15)
MAX_STRIP_SCALE = 8
#: coefficients may go this many times past the sliders' cap (scripts may overshoot; no further)
COEFFICIENT_SLACK = 10.0
#: a request's own text is echoed in messages up to this many characters (then "...")
SHOWN_CHARS = 60

RENDER_FIELDS = ("seed", "z0", "coefficients", "sphere", "with_reference")
INFO_FIELDS = ("d_max", "sphere", "seed")
STRIP_FIELDS = ("axis", "d_max", "sphere", "seed", "steps", "scale")


class RequestTooLarge(InputError):
    """A request body over :data:`MAX_BODY` bytes."""


@dataclass(frozen=True)
class RenderRequest:
    """A validated render request.

    Attributes:
        seed: the reference code is ``G.sample(1, seed)``; None with ``z0`` None: the default reference.
        z0: (n,) float64 reference code given explicitly, or None.
        coefficients: (K,) float64, one per axis: latent units, or radians with ``sphere``.
        sphere: move on the sphere of radius |z0| (rotations toward each axis in turn).
        with_reference: also return the reference image.
    """

    seed: int | None
    z0: np.ndarray | None
    coefficients: np.ndarray
    sphere: bool
    with_reference: bool


def shown(value) -> str:
    """A request value as messages echo it: at most :data:`SHOWN_CHARS` characters, then "..."."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3 * SHOWN_CHARS:
        return f"an integer of {len(str(abs(value)))} digits"
    text = str(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def _no_constant(name: str):
    raise InputError(f"the request body is not strict JSON: {name} is not a number JSON allows (send a finite "
                     f"number)", argument="body")


def parse_body(body: bytes) -> dict:
    """A request body as a JSON object (strict: no NaN or Infinity literals).

    Raises:
        RequestTooLarge: over :data:`MAX_BODY` bytes.
        InputError: not UTF-8 JSON, nested too deeply for the parser, an integer past Python's
            4300-digit limit, or not an object.
    """
    if len(body) > MAX_BODY:
        raise RequestTooLarge(f"the request body is {len(body)} bytes; at most {MAX_BODY} are accepted",
                              argument="body")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise InputError("the request body is not UTF-8 text", argument="body") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"the request body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                         argument="body") from None
    except InputError:  # from _no_constant
        raise
    except RecursionError:  # arrays or objects nested thousands deep
        raise InputError("the request body is nested too deeply (send a flat object)", argument="body") from None
    except ValueError:  # an integer literal past int()'s 4300-digit limit (sys.get_int_max_str_digits)
        raise InputError("the request body holds a number with too many digits", argument="body") from None
    if not isinstance(data, dict):
        raise InputError(f"the request body must be a JSON object, got {_json_kind(data)}", argument="body")
    return data


def _json_kind(value) -> str:
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
             dict: "an object", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _known_fields(data, allowed, where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InputError(f"unknown {where} field {shown(unknown[0])}; the fields are {', '.join(allowed)}",
                         argument=shown(unknown[0]))


def _number_list(value, name: str, length: int, bound: float) -> np.ndarray:
    """A JSON array of ``length`` finite numbers, each at most ``bound`` in size, as float64.

    Raises:
        InputError: not an array, another length, a non-number, or a value out of bounds.
    """
    if not isinstance(value, list):
        raise InputError(f"{name} must be an array of {length} numbers, got {_json_kind(value)}", argument=name)
    if len(value) != length:
        raise InputError(f"{name} must hold {length} numbers, got {len(value)}", argument=name)
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"{name} must hold numbers only, got {_json_kind(v)}", argument=name)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except OverflowError:  # an integer JSON number too large for a float
        arr = np.full(length, np.inf)
    if not np.isfinite(arr).all():
        raise InputError(f"{name} must hold finite numbers", argument=name)
    worst = float(np.max(np.abs(arr))) if length else 0.0
    if worst > bound:
        raise InputError(f"{name} must hold numbers within +-{bound:.4g}, got {worst:.4g}", argument=name)
    return arr


def _seed(value, name: str = "seed") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        got = f"{_json_kind(value)} ({shown(value)})" if isinstance(value, (str, float)) else _json_kind(value)
        raise InputError(f"{name} must be an integer, got {got}", argument=name)
    if not 0 <= value <= MAX_SEED:
        raise InputError(f"{name} must be at least 0 and at most {MAX_SEED}, got {shown(value)}", argument=name)
    return value


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be true or false, got {_json_kind(value)}", argument=name)
    return value


def render_request(data: dict, *, n_axes: int, latent_dim: int, max_coefficient: float) -> RenderRequest:
    """Validate a render request body (see :class:`RenderRequest` for the fields).

    Args:
        data: the parsed JSON object.
        n_axes: K, the number of axes (the length of ``coefficients``).
        latent_dim: n, the length of ``z0``.
        max_coefficient: the largest |coefficient| accepted (for linear and spherical moves alike).

    Raises:
        InputError: naming the first bad field.
    """
    _known_fields(data, RENDER_FIELDS, "request")
    if "coefficients" not in data:
        raise InputError(f"coefficients is missing: give {n_axes} numbers, one per axis", argument="coefficients")
    seed, z0 = _seed(data.get("seed")), data.get("z0")
    if seed is not None and z0 is not None:
        raise InputError("give seed or z0 as the reference, not both", argument="z0")
    if z0 is not None:
        z0 = _number_list(z0, "z0", latent_dim, MAX_CODE_VALUE)
    coefficients = _number_list(data["coefficients"], "coefficients", n_axes, max_coefficient)
    return RenderRequest(seed, z0, coefficients, _flag(data.get("sphere", False), "sphere"),
                         _flag(data.get("with_reference", False), "with_reference"))


def _query_float(params, name: str) -> float | None:
    if params.get(name) is None:
        return None
    return checks.positive_float(name, _text_number(params[name], name, float))


def _query_int(params, name: str) -> int | None:
    if params.get(name) is None:
        return None
    return _text_number(params[name], name, int)


def _text_number(text: str, name: str, kind):
    what = "an integer" if kind is int else "a number"
    if len(text) > SHOWN_CHARS:  # no value of the viewer's needs more (and int() stops at 4300 digits)
        raise InputError(f"{name} must be {what} of at most {SHOWN_CHARS} characters, got {shown(text)}",
                         argument=name)
    try:
        value = kind(text)
    except ValueError:
        raise InputError(f"{name} must be {what}, got {shown(text)}", argument=name) from None
    if kind is float and not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {shown(text)}", argument=name)
    return value


def _query_flag(params, name: str) -> bool:
    text = params.get(name)
    if text is None:
        return False
    if text.lower() not in ("true", "false", "1", "0"):
        raise InputError(f"{name} must be true or false, got {shown(text)}", argument=name)
    return text.lower() in ("true", "1")


def info_query(params) -> dict:
    """``{"d_max", "sphere", "seed"}`` from the query string of ``GET /api/info`` (each may be absent).

    Raises:
        InputError: an unknown parameter, a d_max that is not a positive finite number, a bad seed or flag.
    """
    _known_fields(params, INFO_FIELDS, "query")
    return {"d_max": _query_float(params, "d_max"), "sphere": _query_flag(params, "sphere"),
            "seed": _seed(_query_int(params, "seed"))}


def strip_query(params, *, n_axes: int) -> dict:
    """``{"axis", "d_max", "sphere", "seed", "steps", "scale"}`` from the query string of ``GET /api/strip``.

    Raises:
        InputError: a missing or out-of-range axis, an even or out-of-range number of steps, a scale
            out of range, or any check of :func:`info_query`.
    """
    _known_fields(params, STRIP_FIELDS, "query")
    if params.get("axis") is None:
        raise InputError(f"axis is missing: give an axis index from 0 to {n_axes - 1}", argument="axis")
    axis = checks.integer("axis", _query_int(params, "axis"), minimum=0, maximum=n_axes - 1)
    steps = _query_int(params, "steps")
    steps = 7 if steps is None else checks.integer("steps", steps, minimum=STRIP_STEPS[0], maximum=STRIP_STEPS[1])
    if steps % 2 == 0:
        raise InputError(f"steps must be odd so that the reference sits in the middle, got {steps}", argument="steps")
    scale = _query_int(params, "scale")
    scale = 1 if scale is None else checks.integer("scale", scale, minimum=1, maximum=MAX_STRIP_SCALE)
    rest = info_query({k: v for k, v in params.items() if k in INFO_FIELDS})
    return {"axis": axis, "steps": steps, "scale": scale, **rest}
