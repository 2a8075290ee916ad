"""Users' own distances: ``module.path:factory``, as for models.

``--distance my_pkg.feats:make`` on the command line, ``load_distance("my_pkg.feats:make")``
in Python:

- ``factory`` is a callable in an importable module (installed, on ``PYTHONPATH``, or in the
  current directory), called with no arguments.
- It returns a ganmetric :class:`~ganmetric.distances.Distance` (used as is), or any
  ``nn.Module`` feature map ``phi`` taking images (B, C, H, W) in [-1, 1], wrapped as the
  squared-feature distance ``d(x, y) = ||phi(x) - phi(y)||^2``
  (:class:`~ganmetric.distances.FeatureDistance`), so every metric method works on it,
  ``jacobian`` included.

The distance keeps the name the user wrote. Its record (``distance_options``) holds its own
options and ``state_sha256``, a digest of the returned module's state (parameters and
buffers) as the factory built it: a file made with it is refused with a factory that now
builds other weights. Like a custom model, a recorded ``module:factory`` distance is never
imported because a file names it: the user names it again (``--distance``).
"""
from __future__ import annotations

import hashlib

import torch
from torch import nn

from ..errors import InputError, first_line
from ..usercode import FACTORY_PATTERN, import_factory
from .base import Distance, FeatureDistance
from .registry import DistanceEntry

#: how a user's distance is written, in help texts and the list of valid names
FORM = "module.path:factory"


def state_sha256(module: nn.Module) -> str | None:
    """sha256 of a module's state dict (names, dtypes, shapes and bytes, in order), or None when it is empty."""
    state = module.state_dict()
    if not state:
        return None
    digest = hashlib.sha256()
    for name, tensor in state.items():
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{str(t.dtype).replace('torch.', '')}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_custom_distance(spec: str) -> Distance:
    """Build a user's distance from ``module.path:factory`` (see the module docstring).

    Args:
        spec: ``module.path:factory``.

    Returns:
        The distance, named ``spec``, its options holding ``state_sha256`` when it has a state.

    Raises:
        InputError: the module cannot be imported, the factory fails, or it returns something
            other than a Distance or an ``nn.Module`` (``argument="distance"``).
    """
    factory = import_factory(spec, what="distance")
    try:
        made = factory()
    except Exception as exc:
        raise InputError(f"{spec}() failed: {type(exc).__name__}: {first_line(exc)}", argument="distance") from exc
    if isinstance(made, Distance):
        D = made
    elif isinstance(made, nn.Module):
        D = FeatureDistance(made)
    else:
        raise InputError(f"{spec}() must return a ganmetric Distance or a torch.nn.Module feature map (images -> "
                         f"features), got {type(made).__name__}", argument="distance")
    D.name = spec  # as the user wrote it, whatever the module calls itself
    digest = state_sha256(D)
    if digest is not None:
        D.options = {**D.options, "state_sha256": digest}
    return D


#: the entry ``load_distance`` uses for a ``module.path:factory`` spec (not registered: it is no name)
USER_DISTANCE = DistanceEntry(FORM, load_custom_distance,
                              help="your own code: a factory returning a Distance, or an nn.Module feature map "
                                   "(then d = ||phi(x) - phi(y)||^2); it runs your code: name only code you trust")


def is_user_distance(spec) -> bool:
    """Whether ``spec`` has the form ``module.path:factory``."""
    return isinstance(spec, str) and bool(FACTORY_PATTERN.match(spec))
