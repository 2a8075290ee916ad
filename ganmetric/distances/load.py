"""``load_distance``: a distance spec and its options -> a frozen :class:`~ganmetric.distances.Distance`.

The spec names a registered distance (:data:`~ganmetric.distances.registry.DISTANCES`: ``mse``,
``lpips-alex``, ``layer:NAME``, ...) or the user's ``module.path:factory``; its options are
checked against the registry's declarations, and every option that changes the distance is
recorded in the distance's ``options`` (what result files record).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .. import checks
from ..io import sha256_file
from .base import Distance
from .custom import USER_DISTANCE, is_user_distance
from .registry import DISTANCES, DistanceEntry, check_options, registered


def distance_entries() -> list[DistanceEntry]:
    """Every kind of distance: the registered names, those taking an argument (``layer:NAME``), and the
    user's ``module.path:factory``.

    Returns:
        The entries in that order (help texts and ``--distance``'s choices list them so).
    """
    entries = list(DISTANCES.values())
    return [e for e in entries if not e.argument] + [e for e in entries if e.argument] + [USER_DISTANCE]


def distance_forms() -> list[str]:
    """Every way to name a distance.

    Returns:
        The forms in the order of :func:`distance_entries`: ``mse``, ..., ``layer:NAME[,NAME2...]``,
        ``module.path:factory``.
    """
    return [e.form for e in distance_entries()]


def distance_entry(spec: str) -> DistanceEntry:
    """The entry that builds ``spec``: a registered distance, or the user's ``module.path:factory``.

    Nothing is imported or built: the command line checks ``--distance`` with it.

    Args:
        spec: a distance spec as :func:`load_distance` takes it.

    Returns:
        The :class:`~ganmetric.distances.DistanceEntry` whose builder makes it.

    Raises:
        InputError: ``Invalid distance X. Must be one of {...}`` (``argument="distance"``).
    """
    entry = registered(spec)
    if entry is not None:
        return entry
    if is_user_distance(spec):
        return USER_DISTANCE
    checks.one_of("distance", str(spec), distance_forms())  # raises: no form matches spec
    raise AssertionError(f"{spec} matches no distance form")  # pragma: no cover


def _record(option, value):
    """How an option's value is recorded: a file as ``{"path", "sha256"}``, anything else as is."""
    if option.file and isinstance(value, str) and Path(value).expanduser().is_file():
        path = Path(value).expanduser()
        return {"path": str(path.resolve()), "sha256": sha256_file(path)}
    return value


def load_distance(spec: str | Distance = "lpips-alex", *, device="cpu", dtype=None, generator=None,
                  **options) -> Distance:
    """Build a distance by name.

    Args:
        spec: a registered distance (``mse``, ``lpips-alex``, ``lpips-vgg``, ``lpips-squeeze``,
            ``layer:NAME[,NAME2...]``: the generator's own layers, see
            :class:`~ganmetric.distances.LayerDistance`), or ``module.path:factory``: your own
            (:func:`~ganmetric.distances.custom.load_custom_distance`; it runs your code). A
            ``Distance`` is returned as is.
        device: where it runs.
        dtype: "float32" (default) or "float64".
        generator: the generator it will read, checked now (a layer distance's names: bad ones
            fail here, in one line); image distances take any generator.
        **options: the distance's options (None: not given), e.g. for LPIPS
            ``lpips_backbone`` ("pretrained", the default; "random" = "random:0";
            "random:SEED", an untrained backbone drawn from SEED; or the path of a torchvision
            state dict) and ``resize`` (a square side the images are resized to first).

    Returns:
        The distance, frozen, on ``device`` in ``dtype``; its ``options`` hold every option
        that changes it, with the value in effect.

    Raises:
        InputError: an unknown spec (listing the valid ones), an option it does not take (naming
            the distances that do) or a bad value, or (with ``generator``) a layer it cannot
            give; WeightsError: weights unavailable (LPIPS backbones).
    """
    if isinstance(spec, Distance):
        return spec
    entry = distance_entry(spec)
    kwargs = check_options(entry, spec, options)
    dev, dt = checks.device(device), checks.dtype(dtype or "float32")
    # built on the CPU whatever the default device, then moved; the global RNG that torch's default
    # initialisation of modules draws from is restored
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        dist = entry.build(spec, **kwargs)
    if not isinstance(dist, Distance) or (entry is not USER_DISTANCE and registered(dist.name) is not entry):
        raise TypeError(f"the builder of distance {entry.form} must return a Distance named by its spec (the name "
                        f"files record), got {type(dist).__name__} {getattr(dist, 'name', '')!r}")
    for option in entry.options:  # a distance's own record of an option (e.g. a file's digest) is kept
        if option.changes_distance and option.key not in dist.options:
            dist.options[option.key] = _record(option, kwargs[option.name])
    if generator is not None:
        dist.check_generator(generator)
    return dist.to(device=dev, dtype=dt).freeze()

